"""`python -m looped_hrm.bench analyze DIR` on a tiny finished HRM (and a baseline without states)."""

from __future__ import annotations

import pandas as pd
import pytest
from engine.fakes import BroadcastTask, TinyReasoner

from looped_hrm.bench import main
from looped_hrm.evaluation.analyses import segment_profile


def test_segment_profile_one_pass():
    task = BroadcastTask()
    model = TinyReasoner(task.info, updates=3)
    prof = segment_profile(model, task, task.build("test"), segments=4, pr_segment=2, limit=20, batch_size=8)
    assert prof.examples == 20 and prof.residuals["z"].shape == (4, 3) and (prof.residuals["z"] > 0).all()
    assert prof.exact.shape == prof.verified.shape == prof.halt_prob.shape == (4,)
    assert ((0 <= prof.exact) & (prof.exact <= prof.verified + 1e-9)).all()  # broadcast: verified == exact
    assert 1.0 <= prof.participation["z"] <= model.hidden and prof.pr_samples == 20 * task.info.seq_len


def test_analyze_writes_tables_and_plots(sudoku_run, capsys):
    assert main(["analyze", str(sudoku_run), "--limit", "16", "--segments", "3"]) == 0
    out = sudoku_run / "analysis"
    printed = capsys.readouterr().out
    assert "Participation ratio" in printed and "H/L" in printed
    part = pd.read_csv(out / "participation.csv")
    hrm = part[part.run.str.contains("/hrm/")].set_index("level").participation_ratio
    assert hrm["H/L"] == pytest.approx(hrm["H"] / hrm["L"]) and 1 <= hrm["H"] <= 32  # tiny HRM: hidden 32
    res = pd.read_csv(out / "residuals.csv")
    assert set(res.level) == {"H", "L"} and (res.residual > 0).all() and res.segment.max() == 3
    scaling = pd.read_csv(out / "scaling.csv")
    assert len(set(scaling.run)) == 2 and len(scaling) == 2 * 3  # hrm and baseline, 3 segments each
    assert scaling.exact_accuracy.between(0, 1).all() and (scaling.verified_accuracy >= scaling.exact_accuracy).all()
    diff = pd.read_csv(out / "difficulty.csv")
    assert {"bucket", "difficulty"} == set(diff.by) and diff.examples[diff.by == "bucket"].groupby(diff.run).sum().eq(
        16
    ).all()
    rho = pd.read_csv(out / "spearman.csv")  # 4×4 puzzles never need search: one difficulty, no correlation
    assert (rho.distinct_difficulties == 1).all() and rho.spearman_difficulty_vs_segments.isna().all()
    for name in ("analysis.md", "residuals.png", "scaling.png", "compute_vs_difficulty.png"):
        assert (out / name).stat().st_size > 0
    assert "/hrm/act_q/seed0: 16" in (out / "analysis.md").read_text()  # says how many puzzles each run used


def test_analyze_says_when_a_split_is_smaller_than_the_limit(sudoku_run, tmp_path):
    assert (
        main(
            [
                "analyze",
                str(sudoku_run),
                "--model",
                "hrm",
                "--limit",
                "1000",
                "--segments",
                "1",
                "--out",
                str(tmp_path / "a"),
            ]
        )
        == 0
    )
    note = (tmp_path / "a" / "analysis.md").read_text()
    assert "the first 1000 of each run's evaluation split, or all when it has fewer" in note
    assert "/hrm/act_q/seed0: 128)" in note  # the tiny preset holds 128 test puzzles


def test_analyze_without_checkpoints_says_so(tmp_path, sudoku_run, capsys):
    import shutil

    shutil.copytree(sudoku_run / "runs", tmp_path / "runs")
    assert main(["analyze", str(tmp_path)]) == 2
    assert "checkpoint" in capsys.readouterr().err
