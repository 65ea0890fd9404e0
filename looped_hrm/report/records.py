"""Which result records a table may aggregate.

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
from looped_hrm.config import config_hash

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
    return None


def read_record(path: Path) -> dict[str, Any] | None:
    """The record at ``path``, or None (with a one-line warning naming the file) if it is unusable."""
    problem: str | None
    try:
        record = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        problem = f"unreadable ({exc})"
    else:
        problem = record_problem(record)
        if problem is None:
            return record
    print(f"warning: {path}: result record skipped: {problem}", file=sys.stderr)
    return None


def config_id(record: dict[str, Any]) -> str:
    """What a record's result depends on apart from its seed: equal ids may be averaged over seeds."""
    combo = record["combination"]
    return config_hash({k: v for k, v in combo.items() if k not in ("seed", "device", "skip_reason")}, length=8)


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
        return separate_configs(records, keys), text
    text = " ".join(parts) + "."
    if older:
        text += f" {older} older records in runs/ are not shown (`python -m looped_hrm.bench report DIR --all`)."
    return separate_configs(current, keys), text


def separate_configs(records: list[dict[str, Any]], current: set[str]) -> list[dict[str, Any]]:
    """Records whose labels coincide but whose configs differ get distinct model labels
    (``hrm [cfg 1a2b3c4d]``), except the current grid's, so no table averages two configs as seeds."""
    ids: dict[tuple[str, str, str], set[str]] = {}
    for rec in records:
        ids.setdefault(_labels(rec), set()).add(config_id(rec))
    out = []
    for rec in records:
        if len(ids[_labels(rec)]) > 1 and rec["key"] not in current:
            combo = dict(rec["combination"])
            combo["model"] = {**combo["model"], "label": f"{combo['model']['label']} [cfg {config_id(rec)}]"}
            rec = {**rec, "combination": combo}
        out.append(rec)
    return out


def _labels(record: dict[str, Any]) -> tuple[str, str, str]:
    combo = record["combination"]
    return combo["task"]["label"], combo["model"]["label"], combo["halting"]["label"]
