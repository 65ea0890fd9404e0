"""Load tests (issue 21): the grid runner and the tables at sizes a user can reach by a typo or by a
long campaign, timed on the CI machine (2 cores). Not unit tests: each takes seconds to a minute.

* a grid of 100,000 combinations (``--seeds 100000``) is resolved, validated and estimated by
  ``--dry-run`` in seconds (it once printed nothing for minutes: a quadratic duplicate check, one
  estimate row per seed).
"""

from __future__ import annotations

import time

from looped_hrm.commands import main


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
