"""The puzzle browser's data: each logged test puzzle (``--log-samples``) drawn as its task draws it,
segment by segment.

The drawing is the task's own, through the plugin contract that ``trace`` uses: ``Task.picture`` (a
`GridPicture`: cell colours, text, a path, box rules) or, for a task without it, its ``render`` text
one character per cell (`looped_hrm.evaluation.pictures.grid_picture`). A third-party task is drawn
the same way; a task whose plugin is not installed is shown as its tokens.

One file per run (``data/puzzles/<key>.js``, loaded when the reader opens that run) holds its
puzzles: the input, the prediction after every segment up to where the evaluation stopped, and the
label, each a *frame*. Every distinct drawn cell (fill, text, text colour) of the file is a *glyph*
stored once, so a frame is a short string of glyph ids, or, where fewer cells changed than that
costs, the list of ``[cell, glyph, ...]`` that differ from the frame it builds on (the previous
segment; the input for the label). The cells outlined as changed are the tokens that changed
(``trace``'s rule) when the picture's cells are the tokens, else the drawn cells that changed; they
are stored only where they differ from the glyphs that changed. Each segment also carries the task's
verdict (``Task.verify``) and whether it equals the label; the log itself holds only the final ones.

Large runs: ``limit`` puzzles per run at most, the same test puzzles in every run of a task (taken
in test order, in turn from each difficulty bucket), so two models can be compared puzzle by puzzle.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from looped_hrm.contracts import IGNORE_INDEX, GridPicture, Task
from looped_hrm.evaluation.pictures import crop_window, grid_picture
from looped_hrm.evaluation.samples import SAMPLE_KEYS

ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz-_"
FACTS = (
    "index",
    "puzzle_id",
    "bucket",
    "difficulty",
    "halted_at",
    "inner_steps",
    "correct",
    "verified",
    "token_accuracy",
)


def choose(samples: Sequence[dict[str, Any]], limit: int | None) -> list[int]:
    """Positions of the samples to show: all, or ``limit`` of them taken in turn from each bucket."""
    if limit is None or len(samples) <= limit:
        return list(range(len(samples)))
    lanes: dict[Any, list[int]] = {}
    for pos, s in enumerate(samples):
        lanes.setdefault(s["bucket"], []).append(pos)
    queues = [q[::-1] for q in lanes.values()]
    chosen: list[int] = []
    while len(chosen) < limit:
        for queue in queues:
            if queue and len(chosen) < limit:
                chosen.append(queue.pop())
    return sorted(chosen)


class Glyphs:
    """Each distinct drawn cell (fill colour, text, text colour) of a file, numbered once."""

    def __init__(self) -> None:
        self.colours: list[str] = []
        self.cells: list[list[Any]] = []
        self._colour: dict[str, int] = {}
        self._cell: dict[tuple[int, str, int], int] = {}

    def colour(self, rgb: np.ndarray) -> int:
        hexed = "#" + "".join(f"{round(255 * float(np.clip(v, 0, 1))):02x}" for v in rgb[:3])
        if hexed not in self._colour:
            self._colour[hexed] = len(self.colours)
            self.colours.append(hexed)
        return self._colour[hexed]

    def cell(self, fill: np.ndarray, text: str, ink: np.ndarray) -> int:
        key = (self.colour(fill), text, self.colour(ink))
        if key not in self._cell:
            self._cell[key] = len(self.cells)
            self.cells.append(list(key))
        return self._cell[key]

    def width(self) -> int:
        """Characters of `ALPHABET` per glyph id in a frame string."""
        width = 1
        while len(ALPHABET) ** width < len(self.cells):
            width += 1
        return width


def spell(ids: Sequence[int], width: int) -> str:
    """Glyph ids as a string, ``width`` characters each (most significant first)."""
    base = len(ALPHABET)
    return "".join(ALPHABET[(i // base**k) % base] for i in ids for k in range(width - 1, -1, -1))


# ----------------------------------------------------------------------------------------- drawing


class _Text:
    """A stand-in task whose rendering is fixed text (`grid_picture` draws it one character a cell)."""

    def __init__(self, text: str) -> None:
        self.text = text

    def render(self, tokens: np.ndarray) -> str:
        return self.text


class Drawer:
    """Pictures of one task's grids; text when the task has no picture, it fails, or the task is unknown."""

    def __init__(self, task: Task | None, where: str) -> None:
        self.task, self.where, self.failed = task, where, False

    def picture(self, tokens: np.ndarray, inputs: np.ndarray) -> tuple[GridPicture, bool]:
        """(picture, whether its cells are the tokens)."""
        if self.task is not None and not self.failed:
            try:
                return grid_picture(self.task, tokens, inputs)
            except Exception as exc:  # noqa: BLE001 - a plugin's drawing bug must not stop the report
                self.failed = True
                print(f"warning: {self.where}: the task's picture() failed ({exc}); drawn as text", file=sys.stderr)
        text = " ".join(str(int(t)) for t in tokens)
        if self.task is not None:
            try:
                text = self.task.render(tokens)
            except Exception:  # noqa: BLE001 - the same, for render(): the tokens are shown
                pass
        return grid_picture(_Text(text), tokens, inputs)  # type: ignore[arg-type]


def _pad(pic: GridPicture, height: int, width: int) -> GridPicture:
    """A text picture on a larger blank grid (renderings of different sizes in one puzzle)."""
    h, w = pic.colours.shape[:2]
    colours = np.ones((height, width, 3))
    colours[:h, :w] = pic.colours
    text = np.full((height, width), "", dtype=object)
    if pic.text is not None:
        text[:h, :w] = pic.text
    return GridPicture(colours=colours, text=text)


def _glyph_ids(pic: GridPicture, window: tuple[slice, slice], glyphs: Glyphs) -> list[int]:
    rs, cs = window
    h, w = pic.colours.shape[:2]
    black = np.zeros(3)
    return [
        glyphs.cell(
            pic.colours[r, c],
            str(pic.text[r, c]) if pic.text is not None else "",
            pic.text_colours[r, c] if pic.text_colours is not None else black,
        )
        for r in range(h)[rs]
        for c in range(w)[cs]
    ]


def _links(pic: GridPicture, window: tuple[slice, slice]) -> list[int]:
    r0, c0 = window[0].start or 0, window[1].start or 0
    return [int(v) for (a, b), (c, d) in pic.links for v in (a - r0, b - c0, c - r0, d - c0)]


def _token_changes(before: np.ndarray, after: np.ndarray, shape: tuple[int, int], window) -> list[int]:
    """Cells (indices in the window) whose token changed; cell (r, c) is token r * W + c."""
    h, w = shape
    rows, cols = range(h)[window[0]], range(w)[window[1]]
    flat = np.flatnonzero(before != after)
    return [
        int((k // w - rows.start) * len(cols) + (k % w - cols.start)) for k in flat if k // w in rows and k % w in cols
    ]


def _verdicts(task: Task | None, tokens: np.ndarray, inputs: np.ndarray, labels: np.ndarray) -> tuple[str, str]:
    """('1'/'0' equal to the label on every scored cell, '1'/'0'/'-' accepted by ``Task.verify``)."""
    scored = labels != IGNORE_INDEX
    correct = "1" if (tokens[scored] == labels[scored]).all() else "0"
    verified = "-"
    if task is not None:
        try:
            verified = "1" if task.verify(tokens, inputs, labels) else "0"
        except Exception:  # noqa: BLE001 - a verdict the task cannot give is shown as unknown
            pass
    return correct, verified


class Puzzle:
    """One logged puzzle, drawn: glyph ids of every frame (input, segments, label) and what goes with them."""

    def __init__(self, sample: dict[str, Any], drawer: Drawer, glyphs: Glyphs) -> None:
        inputs = np.asarray(sample["input"], dtype=np.int64)
        labels = np.asarray(sample["label"], dtype=np.int64)
        steps = [np.asarray(p, dtype=np.int64) for p in sample["predictions"]]
        drawn = [drawer.picture(t, inputs) for t in (inputs, *steps)]
        try:
            drawn.append(drawer.picture(labels, inputs))
            self.has_label = True
        except Exception:  # noqa: BLE001 - a label the task cannot draw (unscored cells) is left out
            self.has_label = False
        pictures = [p for p, _ in drawn]
        if len({p.colours.shape[:2] for p in pictures}) > 1:  # renderings of different sizes
            height = max(p.colours.shape[0] for p in pictures)
            width = max(p.colours.shape[1] for p in pictures)
            pictures = [_pad(p, height, width) for p in pictures]
        window = crop_window(pictures)
        shape = pictures[0].colours.shape[:2]
        self.height, self.width = len(range(shape[0])[window[0]]), len(range(shape[1])[window[1]])
        self.cellwise = drawn[0][1]
        self.box = None
        if pictures[0].box is not None:
            self.box = [int(pictures[0].box[0]), int(pictures[0].box[1]), window[0].start or 0, window[1].start or 0]
        self.ids = [_glyph_ids(p, window, glyphs) for p in pictures]
        self.links = [_links(p, window) for p in pictures]
        self.changed: list[list[int] | None] = []
        verdicts = []
        previous = inputs
        for s, tokens in enumerate(steps, start=1):
            drawn_change = [i for i, (a, b) in enumerate(zip(self.ids[s - 1], self.ids[s])) if a != b]
            change = _token_changes(previous, tokens, shape, window) if self.cellwise else drawn_change
            self.changed.append(None if change == drawn_change else change)
            verdicts.append(_verdicts(drawer.task, tokens, inputs, labels))
            previous = tokens
        self.correct_steps = "".join(c for c, _ in verdicts)
        self.verified_steps = "".join(v for _, v in verdicts)
        self.facts = {k: sample[k] for k in FACTS}
        probs = sample["halt_probs"]
        self.halt_probs = None if probs is None else [round(float(p), 4) for p in probs]

    def frames(self, width: int) -> list[Any]:
        """Each frame as a glyph string, or as ``[cell, glyph, ...]`` changes to the frame it builds
        on (the previous one; the input for the label) when that is shorter."""
        out: list[Any] = []
        for f, ids in enumerate(self.ids):
            base = self.ids[0] if self.has_label and f == len(self.ids) - 1 else self.ids[f - 1] if f else None
            full = spell(ids, width)
            if base is not None:
                diff = [v for i, (a, b) in enumerate(zip(base, ids)) if a != b for v in (i, b)]
                if len(json.dumps(diff)) < len(full) + 2:
                    out.append(diff)
                    continue
            out.append(full)
        return out

    def links_per_frame(self) -> list[Any] | None:
        """Each frame's links, or None for "the same as the frame it builds on"; None when no frame has any."""
        if not any(self.links):
            return None
        out: list[Any] = []
        for f, links in enumerate(self.links):
            base = self.links[0] if self.has_label and f == len(self.links) - 1 else self.links[f - 1] if f else []
            out.append(None if f and links == base else links)
        return out


def read_log(path: Path) -> list[dict[str, Any]]:
    """The rows of a sample log; a line that is not one (bad JSON, a missing key, a prediction of
    another length than the input) is a ValueError naming ``path:line``."""
    rows = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path}:{n}: not JSON ({exc.msg})") from None
            missing = [k for k in SAMPLE_KEYS if not isinstance(row, dict) or k not in row]
            if missing:
                raise ValueError(f"{path}:{n}: not a sample-log row (no {', '.join(missing)})")
            size = len(row["input"]) if isinstance(row["input"], list) else -1
            lists = [row["label"], *row["predictions"]] if isinstance(row["predictions"], list) else [None]
            if size < 0 or any(not isinstance(t, list) or len(t) != size for t in lists):
                raise ValueError(f"{path}:{n}: input, label and predictions must be token lists of one length")
            rows.append(row)
    return rows


def run_puzzles(sample_path: Path, task: Task | None, *, limit: int | None, where: str) -> tuple[dict[str, Any], int]:
    """The browser file of one run and how many puzzles its log holds. The file is columnar: one list
    per fact (``index``, ``bucket``, ``correct``, ...) with one entry per puzzle."""
    samples = read_log(sample_path)
    glyphs, drawer = Glyphs(), Drawer(task, where)
    puzzles = [Puzzle(samples[i], drawer, glyphs) for i in choose(samples, limit)]
    width = glyphs.width()
    columns: dict[str, list[Any]] = {k: [p.facts[k] for p in puzzles] for k in FACTS}
    columns.update(
        halt_probs=[p.halt_probs for p in puzzles],
        height=[p.height for p in puzzles],
        width=[p.width for p in puzzles],
        cellwise=[p.cellwise for p in puzzles],
        box=[p.box for p in puzzles],
        has_label=[p.has_label for p in puzzles],
        frames=[p.frames(width) for p in puzzles],
        links=[p.links_per_frame() for p in puzzles],
        changed=[p.changed for p in puzzles],
        correct_steps=[p.correct_steps for p in puzzles],
        verified_steps=[p.verified_steps for p in puzzles],
    )
    payload = {
        "mode": samples[0]["mode"] if samples else None,
        "colours": glyphs.colours,
        "glyphs": glyphs.cells,
        "glyph_width": width,
        "count": len(puzzles),
        "puzzles": columns,
    }
    return payload, len(samples)


def load_task(combination: dict[str, Any], where: str) -> Task | None:
    """The record's task, built from its resolved config (no data is built); None if it cannot be."""
    from looped_hrm.registry import get_registry
    from looped_hrm.resolve import instantiate

    try:
        return instantiate(get_registry(), "task", combination["task"])
    except Exception as exc:  # noqa: BLE001 - an uninstalled plugin: its puzzles are shown as tokens
        plugin = combination["task"].get("plugin")
        print(f"warning: {where}: task {plugin!r} not loaded ({exc}); puzzles shown as tokens", file=sys.stderr)
        return None


def puzzle_runs(
    out_dir: Path, records: list[dict[str, Any]], *, limit: int | None, write: Callable[[str, dict[str, Any]], str]
) -> list[dict[str, Any]]:
    """Encode the sample log of every record that has one; ``write(key, payload)`` stores a run's file
    and returns its path in the site. Returns the browser's index of runs."""
    index = []
    tasks: dict[str, Task | None] = {}
    for rec in records:
        name = rec.get("samples")
        path = out_dir / "runs" / name if isinstance(name, str) else None
        if rec["status"] != "ok" or path is None or not path.is_file():
            continue
        combo = rec["combination"]
        task_id = json.dumps(combo["task"], sort_keys=True)
        if task_id not in tasks:
            tasks[task_id] = load_task(combo, str(path))
        try:
            payload, total = run_puzzles(path, tasks[task_id], limit=limit, where=str(path))
        except (ValueError, TypeError) as exc:  # a damaged log: the site is built without that run's puzzles
            text = str(exc) if str(path) in str(exc) else f"{path}: {exc}"
            print(f"warning: {text}; its puzzles are left out of the site", file=sys.stderr)
            continue
        index.append(
            {
                "key": rec["key"],
                "task": combo["task"]["label"],
                "model": combo["model"]["label"],
                "halting": combo["halting"]["label"],
                "seed": combo["seed"],
                "cap": (rec.get("metrics") or {}).get("eval_max_segments"),
                "mode": payload["mode"],
                "shown": payload["count"],
                "total": total,
                "file": write(rec["key"], payload),
            }
        )
    return index
