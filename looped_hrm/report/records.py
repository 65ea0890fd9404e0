"""Reading result records, and which of them a table may aggregate.

Every command that reads records (`report`, `floors`, `trace`, `analyze`, a resuming `run`) reads
them here: `record_problem` validates a record before anything uses it (a malformed file, or a
garbage ``metrics``/``per_example``/``learning_curve``, is named and skipped), and `read_records`
counts a run once by its identity (key and seed), never by its file — a copy or a rename inside
``runs/`` is reported, not counted as a second seed.

A results folder keeps every record it ever received (``runs/*.json``): a changed config, data file
or plugin version is a new key, and the old record stays on disk. Tables, though, show the grid that
was asked for: `run.json` lists the keys of the last command's grid and `select` keeps only those.
``report --all`` shows every record; `separate_configs` then gives each config of a cell its own
label, so two different configs are never averaged as if they were seeds.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Iterable

from looped_hrm.atomic import atomic_write_json
from looped_hrm.config import ConfigError, config_hash
from looped_hrm.evaluation.per_example import decode, unpack
from looped_hrm.resolve import record_stem

STATUSES = ("ok", "failed", "skipped")
RUN_FILE = "run.json"


def record_problem(record: Any) -> str | None:
    """Why ``record`` is not a usable result record (None: it is), checked before anything reads it."""
    if not isinstance(record, dict):
        return f"expected a JSON object, got {type(record).__name__}"
    if not isinstance(record.get("key"), str):
        return "no 'key'"
    if record.get("status") not in STATUSES:
        return f"'status' must be one of {', '.join(STATUSES)}, got {record.get('status')!r}"
    combo = record.get("combination")
    if not isinstance(combo, dict):
        return "no 'combination' object"
    for kind in ("task", "model", "halting"):
        if not isinstance(combo.get(kind), dict) or not isinstance(combo[kind].get("label"), str):
            return f"'combination.{kind}' has no label"
    if not isinstance(combo.get("seed"), int) or isinstance(combo.get("seed"), bool):
        return "'combination.seed' is not an integer"
    for field in ("metrics", "environment"):
        if field in record and not isinstance(record[field], dict):
            return f"'{field}' must be an object, got {type(record[field]).__name__}"
    if record["status"] == "ok" and not isinstance(record.get("metrics"), dict):
        return "status 'ok' without metrics"
    n = None
    if record.get("per_example") is not None:
        try:
            n = unpack(record["per_example"])["n"]
        except (KeyError, TypeError, ValueError, AttributeError) as exc:  # binascii.Error is a ValueError
            return f"'per_example' cannot be decoded ({_first_line(exc)})"
    if record.get("learning_curve") is not None:
        problem = _curve_problem(record["learning_curve"], n)
        if problem is not None:
            return f"'learning_curve' {problem}"
    extrapolation = record.get("extrapolation")  # eval.extrapolate: one per_example entry per test split
    if extrapolation is not None:
        if not isinstance(extrapolation, dict):
            return f"'extrapolation' must be an object, got {type(extrapolation).__name__}"
        for label, entry in extrapolation.items():
            try:
                unpack(entry)
            except (KeyError, TypeError, ValueError, AttributeError) as exc:
                return f"'extrapolation' entry {label!r} cannot be decoded ({_first_line(exc)})"
    return None


CURVE_NUMBERS = ("fraction", "step", "train_flops", "exact_accuracy")
"""The numbers every learning-curve point holds (`looped_hrm.experiment.run`), which the tables read."""


def _curve_problem(curve: Any, n: int | None) -> str | None:
    if not isinstance(curve, list):
        return f"must be a list, got {type(curve).__name__}"
    for i, point in enumerate(curve):
        if not isinstance(point, dict):
            return f"point {i} is not an object"
        for name in CURVE_NUMBERS:
            if not isinstance(point.get(name), (int, float)) or isinstance(point.get(name), bool):
                return f"point {i} has no number '{name}'"
        if n is not None and "correct" in point:
            try:
                decode(point["correct"], n)
            except (TypeError, ValueError, AttributeError) as exc:
                return f"point {i}: 'correct' cannot be decoded ({_first_line(exc)})"
    return None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _read(path: Path) -> tuple[dict[str, Any] | None, str | None]:
    """(the record, None) or (None, what is wrong with the file)."""
    try:
        record = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        return None, f"unreadable ({_first_line(exc)})"
    problem = record_problem(record)
    return (record, None) if problem is None else (None, problem)


def load_record(path: Path) -> dict[str, Any]:
    """The record at ``path``, or a `ConfigError` naming the file and what is wrong with it."""
    record, problem = _read(path)
    if record is None:
        raise ConfigError(f"{path}: not a usable result record: {problem}")
    return record


def read_record(path: Path) -> dict[str, Any] | None:
    """The record at ``path``, or None (with a one-line warning naming the file) if it is unusable."""
    record, problem = _read(path)
    if record is None:
        print(f"warning: {path}: result record skipped: {problem}", file=sys.stderr)
    return record


def record_file_name(record: dict[str, Any]) -> str:
    """The file name the runner gives ``record`` in ``runs/``."""
    combo = record["combination"]
    task, model, halting = (combo[kind]["label"] for kind in ("task", "model", "halting"))
    return f"{record_stem(task, model, halting, combo['seed'], record['key'])}.json"


def read_records(runs: Path) -> list[tuple[Path, dict[str, Any]]]:
    """Every usable record in the folder ``runs``, each run once (by its key and seed, not its file).

    Of two files holding the same run (a copy), the one under the runner's name is kept and the
    other reported; a file under another name (a rename) is reported and counted as its run.
    """
    by_run: dict[tuple[str, int], list[tuple[Path, dict[str, Any]]]] = {}
    for path in sorted(runs.glob("*.json")):
        record = read_record(path)
        if record is not None:
            by_run.setdefault((record["key"], record["combination"]["seed"]), []).append((path, record))
    kept = []
    for (key, seed), found in by_run.items():
        name = record_file_name(found[0][1])
        found.sort(key=lambda item: item[0].name != name)  # the runner's own file first
        path, record = found[0]
        if path.name != name:
            print(f"warning: {path}: holds the record of {name} (renamed?); counted once as that run", file=sys.stderr)
        for other, _ in found[1:]:
            print(f"warning: {other}: the same run as {path} (key {key}, seed {seed}); counted once", file=sys.stderr)
        kept.append((path, record))
    return sorted(kept, key=lambda item: item[0])


def config_ids(records: list[dict[str, Any]]) -> list[str]:
    """Each record's config id: what its result depends on apart from its seed (equal ids may be
    averaged over seeds). Each distinct config is hashed once: the seeds of one config share it, and
    `config_hash` walks the whole config (10,000 records took seconds)."""
    known: dict[str, str] = {}
    out = []
    for record in records:
        config = _config(record)
        text = json.dumps(config, sort_keys=True, default=str)
        if text not in known:
            known[text] = config_hash(config, length=8)
        out.append(known[text])
    return out


def _config(record: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in record["combination"].items() if k not in ("seed", "device", "skip_reason")}


def write_run_file(out_dir: Path, *, name: str, command: str, keys: Iterable[str]) -> None:
    """Record the grid this folder was last asked for (what the tables show)."""
    atomic_write_json(out_dir / RUN_FILE, {"name": name, "command": command, "keys": sorted(set(keys))})


def read_run_file(out_dir: Path) -> dict[str, Any]:
    path = out_dir / RUN_FILE
    if not path.exists():
        return {}
    try:
        meta = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        print(f"warning: {path}: unreadable ({exc}); showing every record", file=sys.stderr)
        return {}
    if not isinstance(meta, dict):
        print(f"warning: {path}: not a JSON object; showing every record", file=sys.stderr)
        return {}
    return meta


def select(
    records: list[dict[str, Any]], keys: Iterable[str] | None, *, everything: bool = False
) -> tuple[list[dict[str, Any]], str]:
    """The records a table aggregates, and one sentence saying what they are.

    ``keys``: the current grid (None: unknown, e.g. a folder from before `run.json` listed keys).
    """
    if keys is None:
        return separate_configs(records, set()), f"All {len(records)} result records in runs/."
    keys = set(keys)
    current = [r for r in records if r["key"] in keys]
    older = len(records) - len(current)
    missing = len(keys) - len({r["key"] for r in current})
    parts = [f"The {len(current)} records of the grid of the command above"]
    if missing:
        parts.append(f"({missing} of its {len(keys)} combinations have no record yet)")
    if everything:
        text = (
            " ".join(parts) + f", and {older} older records in runs/ (other configs, data or versions), "
            "labelled with their config id."
        )
        return separate_configs(records, keys, label_others=True), text
    text = " ".join(parts) + "."
    if older:
        text += f" {older} older records in runs/ are not shown (`python -m looped_hrm.bench report DIR --all`)."
    return separate_configs(current, keys), text


def separate_configs(
    records: list[dict[str, Any]], current: set[str], *, label_others: bool = False
) -> list[dict[str, Any]]:
    """Records whose labels coincide but whose configs differ get distinct model labels
    (``hrm [cfg 1a2b3c4d]``), except the current grid's, so no table averages two configs as seeds;
    ``label_others``: every record outside the current grid is labelled (``report --all``)."""
    record_ids = config_ids(records)
    ids: dict[tuple[str, str, str], set[str]] = {}
    for rec, cfg in zip(records, record_ids):
        ids.setdefault(_labels(rec), set()).add(cfg)
    out = []
    for rec, cfg in zip(records, record_ids):
        if rec["key"] not in current and (label_others or len(ids[_labels(rec)]) > 1):
            combo = dict(rec["combination"])
            combo["model"] = {**combo["model"], "label": f"{combo['model']['label']} [cfg {cfg}]"}
            rec = {**rec, "combination": combo}
        out.append(rec)
    return out


def _labels(record: dict[str, Any]) -> tuple[str, str, str]:
    combo = record["combination"]
    return combo["task"]["label"], combo["model"]["label"], combo["halting"]["label"]
