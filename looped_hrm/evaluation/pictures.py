"""Traces as text for the terminal and as pictures (a PNG strip or an animated GIF).

The text view puts each segment's grid (``Task.render``) beside a mask of the characters that
changed since the previous segment, and, on a colour terminal, shows the changed characters in
reverse video. The pictures draw each grid from the task's optional ``picture(tokens, inputs)``
(`GridPicture`: cell colours, digits, a path, box rules) with the changed cells outlined in red;
a task without it is drawn as its text rendering. Matplotlib (the ``plot`` extra) draws them.
"""

from __future__ import annotations

import importlib.util
import io
from pathlib import Path
from typing import Any

import numpy as np

from looped_hrm.config import ConfigError
from looped_hrm.contracts import GridPicture, Task
from looped_hrm.evaluation.analyses import Trace, TraceStep

REVERSE, RESET = "\x1b[7m", "\x1b[0m"
CHANGED_EDGE = (0.85, 0.1, 0.1)


# ------------------------------------------------------------------------------------------- text


def _verdict(step: TraceStep) -> str:
    parts = []
    if step.verified is not None:
        parts.append("verifier: " + ("VALID" if step.verified else "invalid"))
    else:
        parts.append("verifier: cannot judge without a label")
    if step.correct is not None:
        parts.append("label: " + ("match" if step.correct else "differs"))
    return ", ".join(parts)


def _halting(step: TraceStep, halted_at: int | None) -> str:
    prob = f"p(halt) {step.halt_prob:.3f}" if step.halt_prob is not None else ""
    if step.halt is None:
        decision = ""
    elif halted_at == step.segment:
        decision = "HALTS here"
    elif halted_at is not None and step.segment > halted_at:
        decision = "(past the halt)"
    else:
        decision = "continues"
    return ", ".join(p for p in (prob, decision) if p)


def _mark(previous: str, current: str, color: bool) -> tuple[list[str], list[str]]:
    """Lines of ``current`` (changed characters in reverse video if ``color``) and a mask showing
    only the changed characters; when the two renderings do not line up, everything counts as changed."""
    prev_lines, cur_lines = previous.splitlines(), current.splitlines()
    aligned = len(prev_lines) == len(cur_lines) and all(len(a) == len(b) for a, b in zip(prev_lines, cur_lines))
    shown, mask = [], []
    for i, line in enumerate(cur_lines):
        old = prev_lines[i] if aligned else None
        out, m = [], []
        for j, ch in enumerate(line):
            changed = old is None or old[j] != ch
            out.append(f"{REVERSE}{ch}{RESET}" if changed and color and not ch.isspace() else ch)
            m.append(ch if changed else ("·" if not ch.isspace() else ch))
        shown.append("".join(out))
        mask.append("".join(m))
    return shown, mask


def trace_text(trace: Trace, task: Task, *, color: bool = False, title: str = "") -> str:
    """The whole trace as text: the input, then per segment the grid beside the changes."""
    render = task.render
    lines = [title] if title else []
    lines += [
        "input" + (" (no label: judged by the task's rules)" if trace.labels is None else ""),
        render(trace.inputs),
    ]
    previous = render(trace.inputs)
    for step in trace.steps:
        current = render(step.prediction)
        shown, mask = _mark(previous, current, color)
        count = int(step.changed.sum())
        header = f"segment {step.segment}: {count} cell{'s' if count != 1 else ''} changed"
        for part in (_halting(step, trace.halted_at), _verdict(step)):
            if part:
                header += "; " + part
        lines.append("")
        lines.append(header)
        width = max((len(m) for m in mask), default=0)
        lines.append(f"{'prediction'.ljust(width)}   changed")
        for s_line, m_line in zip(shown, mask):
            lines.append(f"{s_line}{' ' * (width - len(m_line))}   {m_line}")
        previous = current
    if trace.steps:
        final = trace.final
        where = (
            f"halted at segment {trace.halted_at}"
            if trace.halted_at
            else f"not halted within {len(trace.steps)} segments"
        )
        lines.append("")
        lines.append(
            f"result: {where}"
            + (f" (policy {trace.policy}, cap {trace.max_segments})" if trace.policy else "")
            + f"; {_verdict(final)}"
        )
    return "\n".join(lines)


# --------------------------------------------------------------------------------------- pictures


def _text_picture(text: str) -> GridPicture:
    """A task without ``picture``: its text rendering, one character per cell."""
    rows = text.splitlines() or [""]
    width = max(len(r) for r in rows) or 1
    chars = np.array([list(r.ljust(width)) for r in rows])
    return GridPicture(colours=np.ones((len(rows), width, 3)), text=chars)


def grid_picture(task: Task, tokens: np.ndarray, inputs: np.ndarray) -> tuple[GridPicture, bool]:
    """(picture, whether its cells are the tokens) of one grid."""
    draw = getattr(task, "picture", None)
    if draw is None:
        return _text_picture(task.render(tokens)), False
    return draw(np.asarray(tokens), np.asarray(inputs)), True


def crop_window(pictures: list[GridPicture]) -> tuple[slice, slice]:
    """The rows and columns that any of ``pictures`` uses (`GridPicture.used`): one window for a whole trace."""
    used = [p.used for p in pictures if p.used is not None]
    if not used:
        return slice(None), slice(None)
    any_used = np.logical_or.reduce(used)
    if not any_used.any():
        return slice(None), slice(None)
    rows, cols = np.flatnonzero(any_used.any(1)), np.flatnonzero(any_used.any(0))
    return slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1)


def _draw(
    ax: Any,
    pic: GridPicture,
    window: tuple[slice, slice],
    changed: np.ndarray | None,
    title: str,
    title_colour: Any = "black",
) -> None:
    from matplotlib.patches import Rectangle

    rs, cs = window
    colours = pic.colours[rs, cs]
    h, w = colours.shape[:2]
    r0, c0 = rs.start or 0, cs.start or 0
    ax.imshow(colours, interpolation="nearest", extent=(-0.5, w - 0.5, h - 0.5, -0.5))
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title, fontsize=8, color=title_colour)
    if pic.box is not None:
        br, bc = pic.box
        for r in range(0, h + 1, br):
            ax.axhline(r - 0.5, color="black", lw=1.5)
        for c in range(0, w + 1, bc):
            ax.axvline(c - 0.5, color="black", lw=1.5)
    if pic.text is not None:
        size = max(4.0, min(12.0, 120.0 / max(h, w)))
        text = pic.text[rs, cs]
        tcol = pic.text_colours[rs, cs] if pic.text_colours is not None else None
        for (r, c), s in np.ndenumerate(text):
            if s:
                ax.text(
                    c,
                    r,
                    s,
                    ha="center",
                    va="center",
                    fontsize=size,
                    family="monospace",
                    color=tuple(tcol[r, c]) if tcol is not None else "black",
                )
    for (ra, ca), (rb, cb) in pic.links:
        ax.plot([ca - c0, cb - c0], [ra - r0, rb - r0], color=(0.9, 0.45, 0.0), lw=2, solid_capstyle="round")
    if changed is not None:
        mask = changed.reshape(pic.colours.shape[:2])[rs, cs]
        for r, c in zip(*np.nonzero(mask)):
            ax.add_patch(Rectangle((c - 0.5, r - 0.5), 1, 1, fill=False, edgecolor=CHANGED_EDGE, lw=1.5))


def _panels(trace: Trace, task: Task) -> list[tuple[GridPicture, np.ndarray | None, str, Any]]:
    """(picture, changed mask or None, title, title colour) for the input and every segment."""
    pic, _ = grid_picture(task, trace.inputs, trace.inputs)
    panels: list[tuple[GridPicture, np.ndarray | None, str, Any]] = [(pic, None, "input", "black")]
    for step in trace.steps:
        pic, cellwise = grid_picture(task, step.prediction, trace.inputs)
        words = [f"segment {step.segment}"]
        if step.halt_prob is not None:
            words.append(f"p(halt) {step.halt_prob:.2f}")
        if trace.halted_at == step.segment:
            words.append("HALT")
        verdict = {True: "valid", False: "invalid", None: "?"}[step.verified]
        colour = {True: "green", False: "firebrick", None: "black"}[step.verified]
        panels.append((pic, step.changed if cellwise else None, "\n".join([" · ".join(words), verdict]), colour))
    return panels


def _figure_size(pic: GridPicture, window: tuple[slice, slice]) -> tuple[float, float]:
    h = len(range(*window[0].indices(pic.colours.shape[0])))
    w = len(range(*window[1].indices(pic.colours.shape[1])))
    scale = 2.2 / max(h, w)
    return max(1.2, w * scale), max(1.2, h * scale)


PICTURE_KINDS = {".png": "a strip", ".gif": "an animation"}


def check_picture_path(path: str | Path, option: str = "--out") -> Path:
    """``path`` if a trace picture can be written there (.png or .gif, matplotlib installed); else a
    `ConfigError` naming ``option`` — checked before the trace runs, not after."""
    path = Path(path)
    if path.suffix.lower() not in PICTURE_KINDS:
        kinds = " or ".join(f"{suffix} ({what})" for suffix, what in PICTURE_KINDS.items())
        raise ConfigError(f"{option} {path}: a trace picture ends in {kinds}")
    if importlib.util.find_spec("matplotlib") is None:
        raise ConfigError(f"{option} {path}: pictures need matplotlib: pip install 'looped-hrm[plot]'")
    return path


def save_trace_picture(
    trace: Trace, task: Task, path: str | Path, *, title: str = "", columns: int = 6, frame_ms: int = 800
) -> Path:
    """Write the trace as a PNG strip (``.png``: the input then every segment, ``columns`` per row)
    or an animated GIF (``.gif``: one frame per segment beside the input)."""
    path = check_picture_path(path)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    kind = path.suffix.lower()
    path.parent.mkdir(parents=True, exist_ok=True)
    panels = _panels(trace, task)
    window = crop_window([p for p, *_ in panels])
    cw, ch = _figure_size(panels[0][0], window)
    if kind == ".png":
        cols = min(columns, len(panels))
        rows = -(-len(panels) // cols)
        fig, axes = plt.subplots(rows, cols, figsize=(cols * cw, rows * (ch + 0.5)), squeeze=False)
        for ax in axes.flat[len(panels) :]:
            ax.axis("off")
        for ax, (pic, changed, text, colour) in zip(axes.flat, panels):
            _draw(ax, pic, window, changed, text, colour)
        if title:
            fig.suptitle(title, fontsize=9)
        fig.tight_layout()
        fig.savefig(path, dpi=110)
        plt.close(fig)
        return path
    from PIL import Image  # a dependency of matplotlib

    frames = []
    for pic, changed, text, colour in panels[1:] or panels:
        fig, (left, right) = plt.subplots(1, 2, figsize=(2 * cw, ch + 0.7))
        _draw(left, panels[0][0], window, None, "input")
        _draw(right, pic, window, changed, text, colour)
        if title:
            fig.suptitle(title, fontsize=8)
        fig.tight_layout()
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=90)
        plt.close(fig)
        buffer.seek(0)
        frames.append(Image.open(buffer).convert("RGB"))
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=frame_ms, loop=0)
    return path
