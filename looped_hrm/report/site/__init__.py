"""``report DIR --html``: a static results site in ``DIR/site/`` that opens from ``index.html``.

No server and no network: the pages are one HTML file, one script and one style sheet (``static/``),
the chart library vendored with its licence (uPlot, MIT, ``static/vendor/``), and the data as
JavaScript files that set a global (``data/report.js``; ``data/puzzles/<key>.js`` per run with a
sample log) — a browser opening a page from disk may not ``fetch`` a JSON file beside it, but it
runs a ``<script>``. What the data hold: `export` (the tables, charts and provenance) and `puzzles`
(the puzzle browser). The output is a pure function of the records and sample logs, so a rebuild
gives the same bytes.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from looped_hrm.report.site.export import site_data

STATIC = Path(__file__).parent / "static"
SITE_DIR = "site"
DEFAULT_PUZZLES = 200
"""Puzzles per run in the browser unless asked otherwise (``--html-puzzles``)."""


@dataclass(frozen=True)
class SiteSummary:
    index: Path
    files: int
    bytes: int
    runs_with_puzzles: int
    puzzles: int

    def line(self) -> str:
        shown = f"; {self.puzzles} puzzles of {self.runs_with_puzzles} runs" if self.runs_with_puzzles else ""
        return f"site: {self.index} ({self.files} files, {self.bytes / 1e6:.2f} MB{shown})"


def _call(function: str, *args: Any) -> str:
    """A script that hands ``args`` to the page's ``function`` (JSON is JavaScript)."""
    text = ",".join(json.dumps(a, ensure_ascii=False, allow_nan=False, separators=(",", ":")) for a in args)
    return f"{function}({text});\n"


def write_site(
    out_dir: str | Path,
    records: list[dict[str, Any]],
    *,
    title: str,
    meta: dict[str, Any],
    scope: str,
    puzzles_per_run: int | None = DEFAULT_PUZZLES,
) -> SiteSummary:
    """Write ``out_dir/site/`` for ``records`` (the selection the tables hold), replacing an older one.

    ``puzzles_per_run``: at most this many puzzles of each run's sample log (None: all of them)."""
    # imported here: the puzzle pictures load the engine and with it torch.compile (seconds), which
    # every command would otherwise pay for at start-up, `report` without --html included
    from looped_hrm.report.site.puzzles import puzzle_runs

    out_dir = Path(out_dir)
    partial = out_dir / (SITE_DIR + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    (partial / "data").mkdir(parents=True)
    shutil.copy(STATIC / "index.html", partial / "index.html")
    shutil.copytree(STATIC, partial / "assets", ignore=shutil.ignore_patterns("index.html"))

    def write_run(key: str, payload: dict[str, Any]) -> str:
        name = f"data/puzzles/{key}.js"
        (partial / name).parent.mkdir(exist_ok=True)
        (partial / name).write_text(_call("loopedHrmPuzzles", key, payload), encoding="utf-8")
        return name

    runs = puzzle_runs(out_dir, records, limit=puzzles_per_run, write=write_run)
    data = site_data(records, title=title, meta=meta, scope=scope, puzzles=runs)
    (partial / "data" / "report.js").write_text(_call("loopedHrmReport", data), encoding="utf-8")

    site = out_dir / SITE_DIR
    old = out_dir / (SITE_DIR + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if site.exists():
        site.rename(old)
    partial.rename(site)
    shutil.rmtree(old, ignore_errors=True)
    files = [p for p in site.rglob("*") if p.is_file()]
    return SiteSummary(
        index=site / "index.html",
        files=len(files),
        bytes=sum(p.stat().st_size for p in files),
        runs_with_puzzles=len(runs),
        puzzles=sum(r["shown"] for r in runs),
    )
