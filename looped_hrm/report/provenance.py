"""Which code and which machines a table's records came from, said in the table's header.

A table that averages records of two commits, or of a tree with uncommitted changes, mixes code; one
that averages two CPUs (or two ATen kernel sets) mixes float rounding. Neither is wrong, but the
reader must be told: `commits` names every commit a table holds, with how many records each and
which came from a dirty tree; `machines` names every device, CPU, ATen capability, torch/numpy
version and thread count. Both read only the records (``environment``, written by
`looped_hrm.runner.worker.environment`), so a table stays an exact function of them. Records written
before a field existed say "not recorded" for it; their dirty flag was a ``-dirty`` suffix of the
commit, which is read too.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

SHORT = 7  # characters of a commit hash, as git prints it


RESULTS = "results/"
"""Committed result folders: a change there is output, not code (as `looped_hrm.runner.worker.git_state`
counts it now; records written before it listed the grid's own run.json as a change)."""


def commit_of(env: dict[str, Any]) -> tuple[str, bool, str]:
    """``(commit, dirty, diff)`` of one record's environment: "" for what it does not say; ``diff`` is
    the start of the hash of the uncommitted changes (records with equal hashes ran the same code)."""
    commit = env.get("git_commit") or ""
    changed = env.get("git_changed")
    if env.get("git_dirty") and isinstance(changed, list) and all(str(p).startswith(RESULTS) for p in changed):
        return commit, False, ""  # only result files differed: the code was the commit's
    dirty = bool(env.get("git_dirty")) or commit.endswith("-dirty")
    return commit.removesuffix("-dirty"), dirty, (env.get("git_diff_sha256") or "")[:8]


def _records(n: int) -> str:
    return f"{n} record" + ("" if n == 1 else "s")


def commits(records: list[dict[str, Any]]) -> str:
    """One sentence naming every commit of ``records`` (most records first), or "" when none say."""
    counts = Counter(commit_of(r.get("environment") or {}) for r in records)
    if not counts:
        return ""
    parts = [
        (commit[:SHORT] if commit else "an unknown commit")
        + (" with uncommitted changes" + (f", diff {diff}" if diff else "") if dirty else "")
        + f" ({_records(n)})"
        for (commit, dirty, diff), n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    ]
    distinct = {commit for commit, _, _ in counts}
    dirty = sum(n for (_, d, _), n in counts.items() if d)
    if len(counts) == 1:
        return f"Code: commit {parts[0]}." + (" The tree had uncommitted changes." if dirty else "")
    head = f"This table mixes {len(distinct)} commits" if len(distinct) > 1 else "This table mixes code states"
    tail = f"; {_records(dirty)} from a tree with uncommitted changes" if dirty else ""
    return f"{head}{tail}: " + ", ".join(parts) + "."


MACHINE = (
    ("device", "device"),
    ("cpu_model", "CPU"),
    ("cpu_capability", "ATen CPU capability"),
    ("torch", "torch"),
    ("numpy", "numpy"),
    ("torch_threads", "threads"),
)


def machines(records: list[dict[str, Any]]) -> str:
    """One line per distinct machine and software state of ``records``, with how many records each."""
    counts = Counter(
        tuple(str(env.get(k)) if env.get(k) is not None else "not recorded" for k, _ in MACHINE)
        for r in records
        if (env := r.get("environment"))
    )
    lines = [
        ", ".join(f"{label} {value}" for (_, label), value in zip(MACHINE, state)) + f" ({_records(n)})"
        for state, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    ]
    return ("Machines: " if len(lines) > 1 else "Machine: ") + "; ".join(lines) + "." if lines else ""
