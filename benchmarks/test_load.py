"""Load tests (issue 21): the grid runner and the tables at sizes a user can reach by a typo or by a
long campaign, timed on the CI machine (2 cores). Not unit tests: each takes seconds to a minute.

* a grid of 100,000 combinations (``--seeds 100000``) is resolved, validated and estimated by
  ``--dry-run`` in seconds (it once printed nothing for minutes: a quadratic duplicate check, one
  estimate row per seed).
* ``report`` over 10,000 records (two cells of 5,000 seeds, made from the committed records of
  results/sudoku-small-default) rebuilds every table in under a minute.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from looped_hrm.commands import main
from looped_hrm.report.records import record_file_name

RECORDS = Path(__file__).resolve().parents[1] / "results" / "sudoku-small-default" / "runs"


def test_a_grid_of_100000_combinations_dry_runs_in_seconds(capsys, tmp_path):
    started = time.monotonic()
    argv = ["run", "--tasks", "parity", "--models", "hrm", "--preset", "tiny", "--seeds", "100000"]
    code = main([*argv, "--dry-run", "--out", str(tmp_path / "out")])
    elapsed = time.monotonic() - started
    out = capsys.readouterr().out
    assert code == 0
    assert "100000 combinations" in out and "0..99999" in out
    assert sum(line.startswith("| parity") for line in out.splitlines()) == 1  # one row for the cell's seeds
    assert elapsed < 60, f"{elapsed:.0f} s"  # measured: ~10 s on 2 busy cores


def test_report_over_10000_records_in_under_a_minute(capsys, tmp_path):
    runs = tmp_path / "runs"
    runs.mkdir()
    cells = [json.loads(path.read_text()) for path in sorted(RECORDS.glob("*__s0__*.json"))]
    assert len(cells) == 2
    for n, record in enumerate(cells):  # each seed its own run: its own key, as a grid would give it
        for seed in range(5000):
            copy = {**record, "key": f"{n:02d}{seed:014x}", "combination": {**record["combination"], "seed": seed}}
            (runs / record_file_name(copy)).write_text(json.dumps(copy))
    started = time.monotonic()
    code = main(["report", str(tmp_path)])
    elapsed = time.monotonic() - started
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "warning" not in err
    table = (tmp_path / "results.md").read_text().splitlines()
    rows = [
        line for line in table if line.startswith("| sudoku") and "baseline:" not in line
    ]  # models, not trivial baselines
    assert len(rows) == 2 and all("5000/5000" in row for row in rows)
    assert elapsed < 60, f"{elapsed:.0f} s"  # `looped-hrm report` on them: ~18 s on 2 busy cores (25 s uncached)
