"""The GPU check (benchmarks/gpu/check.py) rehearsed on the CPU: every stage runs, tiny, and the
summary says what ran, with the ratios it could compute."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_gpu_check_rehearsal_runs_every_stage(tmp_path):
    out = tmp_path / "check"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "gpu" / "check.py"), "--rehearse", "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=1500,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    summary = json.loads((out / "check.json").read_text())
    status = {s["stage"]: s["status"] for s in summary["stages"]}
    official_copy = (ROOT / ".gpu" / "official" / "HRM" / "models").is_dir()
    assert status == {
        "env": "ok",
        "ours_hrm": "ok",
        "official_hrm": "ok" if official_copy else "skipped",
        "ours_trm_mlp": "ok",
        "ours_trm_att": "ok",
        "speedrun": "ok",
    }
    rows = json.loads((out / "speed.json").read_text())["rows"]
    assert len(rows) == 3 and all(r["recompiles_after_warmup"] == 0 and r["compile_s"] > 0 for r in rows)
    assert {" ".join([r["preset"], *r["overrides"]]) for r in rows if r["model"] == "trm"} == {
        "tiny",
        "tiny model.mixer=mlp model.pos_encodings=none",
    }
    report = (out / "check.md").read_text()
    assert "ours / official" in report
    if official_copy:  # the HRM row is divided by the official code timed in the same run
        assert "×" in report
    else:  # CI: the official copy is never committed, so the report says why there is no ratio
        assert "no official copy" in report
    speedrun = json.loads(next((out / "speedrun" / "runs").glob("*.json")).read_text())
    assert speedrun["status"] == "ok" and 0.0 <= speedrun["metrics"]["fixed/exact_accuracy"] <= 1.0
