"""Per-example sample logs (--log-samples), live progress files, and the small runner options
(--tasks list, --limit, --print-config)."""

from __future__ import annotations

import json

import numpy as np
import torch
from engine.fakes import BroadcastTask, TinyReasoner

from looped_hrm.bench import main
from looped_hrm.evaluation.evaluate import evaluate
from looped_hrm.evaluation.samples import SAMPLE_KEYS, read_samples, write_samples
from looped_hrm.registry import get_registry
from looped_hrm.runner.live import LiveBars, read_heartbeat

from .conftest import TINY_EVAL, TINY_TRAIN

FAST = [
    "--preset",
    "tiny",
    "--device",
    "cpu",
    "--jobs",
    "1",
    "--no-progress",
    *[f"--set=train.{k}={v}" for k, v in TINY_TRAIN.items()],
    *[f"--set=eval.{k}={json.dumps(v)}" for k, v in TINY_EVAL.items() if k != "limit"],
]


def test_trajectory_matches_the_final_prediction_and_halting_segment(tmp_path):
    task = BroadcastTask()
    split = task.build("test")
    policy = get_registry().get("halting", "act_q").factory(None)
    res = evaluate(
        TinyReasoner(task.info),
        policy,
        task,
        split,
        mode="policy",
        max_segments=3,
        batch_size=16,
        device=torch.device("cpu"),
        trajectory=True,
    )
    rows = np.arange(len(split))
    last = res.trajectory[rows, res.segments - 1].to(torch.int64)
    assert torch.equal(last, res.predictions) and res.halt_probs.shape == (len(split), 3)
    path = write_samples(tmp_path / "s.samples.jsonl", res, split, mode="policy", bucket_names=task.bucket_names)
    samples = read_samples(path)
    assert len(samples) == len(split) and all(tuple(s) == SAMPLE_KEYS for s in samples)
    for s, seg in zip(samples, res.segments.tolist()):
        assert s["halted_at"] == seg == len(s["predictions"]) == len(s["halt_probs"])
        assert s["bucket"] in task.bucket_names and isinstance(s["correct"], bool)


def test_log_samples_writes_one_jsonl_beside_each_record(tmp_path, capsys):
    out = tmp_path / "r"
    args = ["--tasks", "sudoku", "--models", "hrm", "--out", str(out), "--limit", "8", *FAST]
    assert main(args) == 0
    assert not list((out / "runs").glob("*.samples.jsonl"))  # only when asked
    assert main([*args, "--log-samples"]) == 0  # finished run: re-evaluated, not retrained
    logs = list((out / "runs").glob("*.samples.jsonl"))
    record = json.loads(next(p for p in (out / "runs").glob("*.json")).read_text())
    assert len(logs) == 1 and record["samples"] == logs[0].name and record["metrics"]["train/steps"] == 12
    samples = read_samples(logs[0])
    assert len(samples) == 8 and tuple(samples[0]) == SAMPLE_KEYS
    assert sum(s["correct"] for s in samples) == round(8 * record["metrics"]["policy/exact_accuracy"])
    assert all(isinstance(s["verified"], bool) and len(s["input"]) == 16 for s in samples)
    assert read_heartbeat(out / "work" / record["key"])["step"] >= 1  # the live bars' source
    capsys.readouterr()
    assert main(["report", str(out)]) == 0  # the tables ignore the sample logs


def test_live_bars_follow_the_heartbeat(tmp_path):
    work = tmp_path / "work" / "k"
    work.mkdir(parents=True)
    bars = LiveBars(tmp_path, enabled=True)
    bars.start("k", "task/model")
    (work / "progress.json").write_text(json.dumps({"step": 7, "total": 20, "loss": 0.5, "exact_accuracy": 0.25}))
    bars.poll()
    assert bars.bars["k"].n == 7 and bars.bars["k"].total == 20 and "acc=0.250" in str(bars.bars["k"])
    bars.finish("k")
    assert not bars.bars and LiveBars(tmp_path).enabled is False  # not a terminal under pytest: quiet


def test_list_limit_and_print_config(tmp_path, capsys):
    assert main(["--models", "list"]) == 0
    assert "looped_transformer" in capsys.readouterr().out
    assert (
        main(
            [
                "--tasks",
                "sudoku",
                "--models",
                "hrm,baseline",
                "--preset",
                "tiny",
                "--limit",
                "5",
                "--print-config",
                "--out",
                str(tmp_path / "x"),
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert out.count("---") == 2 and "limit: 5" in out and "H_cycles:" in out
    assert not (tmp_path / "x").exists()  # nothing ran
    assert main(["--tasks", "sudoku", "--models", "hrm", "--limit", "0", "--print-config"]) == 2
    assert "--limit 0" in capsys.readouterr().err
