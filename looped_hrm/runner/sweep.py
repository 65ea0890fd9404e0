"""Sweeps: an ablation as one line (`--sweep model.H_cycles=1,2,4`, or a ``sweep:`` section in a
benchmark YAML), instead of one hand-written grid entry per value.

Each swept key becomes a labelled copy of every grid entry of its kind, one per value, and several
keys of the same kind combine as their cross product:

* ``task.*``, ``model.*``, ``halting.*`` set a plugin config field (``hrm[H_cycles=2]``);
* ``train.*`` and ``eval.*`` set a training or evaluation setting per model entry
  (``hrm[train.max_segments=8]``, ``hrm[eval.max_segments=32]`` for test-time segments).

The expansion happens on the raw grid before it is validated, so a misspelt key or a bad value is
reported by the resolver like any other config error. Labels carry the swept values, so every
record says where it belongs; `sweep_table` reads them back and pivots the results on the swept
keys (``sweep.md``, ``sweep.csv``, ``sweep.png``).
"""

from __future__ import annotations

import itertools
import re
from pathlib import Path
from typing import Any, Iterable, Mapping

import pandas as pd
import yaml

from looped_hrm.config import ConfigError, load_text
from looped_hrm.evaluation import catalogue

KINDS = {"task": "tasks", "model": "models", "halting": "halting", "train": "models", "eval": "models"}
LABEL = re.compile(r"^(?P<base>[^\[\]]+)\[(?P<values>[^\[\]]*)\]$")


def _split_values(text: str) -> list[str]:
    """``"1,2,[3,4]"`` -> ``["1", "2", "[3,4]"]`` (commas inside brackets stay)."""
    parts, depth, current = [], 0, ""
    for ch in text:
        if ch == "," and depth == 0:
            parts.append(current)
            current = ""
            continue
        depth += ch in "[{"
        depth -= ch in "]}"
        current += ch
    parts.append(current)
    return [p.strip() for p in parts]


def parse_sweep(text: str) -> tuple[str, list[Any]]:
    """``"model.H_cycles=1,2,4"`` -> ``("model.H_cycles", [1, 2, 4])`` (values read as YAML)."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not raw.strip():
        raise ConfigError(f"--sweep {text!r}: expected KIND.KEY=V1,V2,..., e.g. model.H_cycles=1,2,4")
    try:
        values = [load_text(v) for v in _split_values(raw)]
    except yaml.YAMLError as exc:
        raise ConfigError(f"--sweep {text!r}: a value is not valid YAML: {exc}") from None
    _check_key(key, values, f"--sweep {text!r}")
    return key, values


def _check_key(key: str, values: Any, where: str) -> None:
    kind, _, field = key.partition(".")
    if kind not in KINDS or not field:
        raise ConfigError(
            f"{where}: the key must start with one of {', '.join(KINDS)} and name a field "
            f"(e.g. model.H_cycles, train.max_segments), got {key!r}"
        )
    if not isinstance(values, list) or not values:
        raise ConfigError(f"{where}: {key} needs a non-empty list of values")
    if len({yaml.safe_dump(v) for v in values}) != len(values):
        raise ConfigError(f"{where}: {key} lists a value twice")


def _show(value: Any) -> str:
    return (
        value
        if isinstance(value, str)
        else yaml.safe_dump(value, default_flow_style=True).strip().removesuffix("...").strip()
    )


def apply_sweep(data: Mapping[str, Any], where: str = "sweep") -> dict[str, Any]:
    """``data`` (a raw benchmark mapping) with its ``sweep`` section expanded into labelled entries."""
    data = dict(data)
    sweep = data.pop("sweep", None) or {}
    if not isinstance(sweep, Mapping):
        raise ConfigError(f"{where}: sweep must map keys to lists of values, e.g. {{model.H_cycles: [1, 2, 4]}}")
    for key, values in sweep.items():
        _check_key(str(key), values, where)
    for section in dict.fromkeys(KINDS.values()):
        keys = [k for k in sweep if KINDS[k.partition(".")[0]] == section]
        if not keys:
            continue
        entries = data.get(section)
        if not entries:
            raise ConfigError(f"{where}: {', '.join(keys)} sweeps over {section}, but the grid has none")
        expanded = []
        for entry in entries:
            entry = {"plugin": entry} if isinstance(entry, str) else dict(entry)
            base = entry.get("label") or entry["plugin"]
            for combo in itertools.product(*(sweep[k] for k in keys)):
                new = {
                    **entry,
                    "config": dict(entry.get("config") or {}),
                    "train": dict(entry.get("train") or {}),
                    "eval": dict(entry.get("eval") or {}),
                }
                shown = []
                for key, value in zip(keys, combo):
                    kind, _, field = key.partition(".")
                    target = new[kind] if kind in ("train", "eval") else new["config"]
                    target[field] = value
                    shown.append(f"{key if kind in ('train', 'eval') else field}={_show(value)}")
                new["label"] = f"{base}[{','.join(shown)}]"
                expanded.append({k: v for k, v in new.items() if v != {} or k == "config"})
        data[section] = expanded
    return data


# --------------------------------------------------------------------------------------- the pivot


def swept_values(label: str) -> tuple[str, dict[str, str]]:
    """``"hrm[H_cycles=2,train.max_segments=8]"`` -> ``("hrm", {"H_cycles": "2", "train.max_segments": "8"})``."""
    match = LABEL.match(label)
    if not match:
        return label, {}
    pairs = [p.partition("=") for p in _split_values(match["values"])]
    return match["base"], {k: v for k, _, v in pairs}


METRICS = (
    (catalogue.key("exact_accuracy", "policy"), "exact %", 100),
    (catalogue.key("exact_accuracy", "fixed"), "exact@fixed %", 100),
    (catalogue.key("mean_segments", "policy"), "segments", 1),
    (catalogue.key("flops_per_example", "policy"), "GFLOP/example", 1e-9),
    (catalogue.key("train/wall_s"), "train s", 1),
)


def _number(text: str) -> Any:
    try:
        return float(text)
    except ValueError:
        return text


def sweep_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Finished rows whose labels carry swept values, pivoted on the swept keys: one row per task,
    base entry and value combination; mean and std over seeds of the headline metrics."""
    if frame.empty or "status" not in frame:
        return pd.DataFrame()
    ok = frame[frame.status == "ok"]
    rows = []
    for _, r in ok.iterrows():
        values: dict[str, str] = {}
        bases = {}
        for kind in ("task", "model", "halting"):
            bases[kind], found = swept_values(str(r[kind]))
            values.update(found)
        if values:
            rows.append(
                {
                    **bases,
                    **{f"sweep:{k}": v for k, v in values.items()},
                    "seed": r.seed,
                    **{m: r.get(m) for m, _, _ in METRICS},
                }
            )
    if not rows:
        return pd.DataFrame()
    data = pd.DataFrame(rows)
    keys = [c for c in data.columns if c.startswith("sweep:")]
    group = ["task", "model", "halting", *keys]
    out = []
    for ident, g in data.fillna({k: "" for k in keys}).groupby(group, sort=False):
        row: dict[str, Any] = dict(zip(group, ident))
        row["seeds"] = len(g)
        for metric, name, scale in METRICS:
            numbers: pd.Series = pd.to_numeric(g[metric], errors="coerce").dropna() * scale
            if len(numbers):
                row[name] = numbers.mean()
                row[f"{name} std"] = numbers.std(ddof=1) if len(numbers) > 1 else float("nan")
        out.append(row)
    table = pd.DataFrame(out).rename(columns={k: k.removeprefix("sweep:") for k in keys})
    swept = [k.removeprefix("sweep:") for k in keys]
    order = table[swept].apply(lambda col: col.map(_number)) if swept else None
    if order is not None:
        table = table.iloc[
            sorted(
                range(len(table)),
                key=lambda i: (
                    table.task.iloc[i],
                    table.model.iloc[i],
                    table.halting.iloc[i],
                    *[(isinstance(v, str), v) for v in order.iloc[i]],
                ),
            )
        ]
    return table.reset_index(drop=True)


def write_sweep(frame: pd.DataFrame, out_dir: str | Path, *, command: str = "") -> list[Path]:
    """``sweep.md``/``sweep.csv`` (and ``sweep.png`` with matplotlib) when the results hold a sweep."""
    from tabulate import tabulate

    from looped_hrm.atomic import atomic_write_text

    table = sweep_table(frame)
    if table.empty:
        return []
    out_dir = Path(out_dir)
    swept = [
        c
        for c in table.columns
        if c not in ("task", "model", "halting", "seeds")
        and not any(c == name or c == f"{name} std" for _, name, _ in METRICS)
    ]
    shown = table.drop(columns=[c for c in table.columns if c.endswith(" std")])
    for _, name, _ in METRICS:
        if name in table and f"{name} std" in table:
            shown[name] = [
                f"{m:.4g}" + ("" if pd.isna(s) else f" ± {s:.2g}") for m, s in zip(table[name], table[f"{name} std"])
            ]
    text = [
        "# Sweep over " + ", ".join(f"`{k}`" for k in swept),
        "",
        *([f"Command: `{command}`", ""] if command else []),
        "Mean ± std over seeds (std blank for one seed); exact % is the policy-halted evaluation, exact@fixed % "
        "every puzzle run the evaluation's fixed number of segments.",
        "",
        tabulate(shown, headers="keys", tablefmt="github", showindex=False),
        "",
    ]
    written = [
        atomic_write_text(out_dir / "sweep.md", "\n".join(text)),
        atomic_write_text(out_dir / "sweep.csv", table.to_csv(index=False)),
    ]
    plot = _plot(table, swept, out_dir / "sweep.png")
    return written + ([plot] if plot else [])


def _plot(table: pd.DataFrame, swept: Iterable[str], path: Path) -> Path | None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    swept = list(swept)
    x_key, series_keys = swept[0], swept[1:]
    fig, ax = plt.subplots(figsize=(5.5, 3.8), layout="constrained")
    for ident, g in table.groupby(["task", "model", "halting", *series_keys], sort=False):
        label = "/".join(map(str, ident))
        xs = [_number(v) for v in g[x_key]]
        numeric = all(isinstance(v, float) for v in xs)
        positions = xs if numeric else list(range(len(xs)))
        for metric, style in (("exact %", "-o"), ("exact@fixed %", "--s")):
            if metric in g:
                ax.errorbar(
                    positions,
                    g[metric],
                    yerr=g.get(f"{metric} std"),
                    fmt=style,
                    capsize=3,
                    ms=4,
                    label=f"{label} ({metric.removesuffix(' %')})",
                )
        if not numeric:
            ax.set_xticks(positions, [str(v) for v in xs])
    ax.set_xlabel(x_key)
    ax.set_ylabel("exact accuracy (%)")
    ax.set_title(f"Sweep over {', '.join(swept)}", fontsize=10)
    ax.legend(fontsize=7)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
