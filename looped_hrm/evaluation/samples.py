"""Per-example sample logs (``--log-samples``, as lm-evaluation-harness's): what the model did on every
test puzzle, one JSON object per line, written atomically beside the combination's record.

Each line (schema `SAMPLE_KEYS`, in test-split order) holds the puzzle (``index``, ``puzzle_id``,
``input``, ``label``, ``difficulty``, ``bucket``), the prediction after each segment up to the
one where the evaluation stopped it (``predictions``), the sigmoid of the halting logit after
each of those segments (``halt_probs``; null for a model without a halting head), where it stopped
(``halted_at``) and the refinement steps it used (``inner_steps``), and the verdicts on the final
answer: ``correct`` (equal to the label on every scored cell), ``verified`` (accepted by the task's
rule checker; null when verification was off) and ``token_accuracy``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from looped_hrm.atomic import atomic_write
from looped_hrm.contracts import Split
from looped_hrm.evaluation.metrics import ExampleResults

SAMPLES_SUFFIX = ".samples.jsonl"
SAMPLE_KEYS = (
    "index",
    "puzzle_id",
    "input",
    "label",
    "difficulty",
    "bucket",
    "mode",
    "predictions",
    "halt_probs",
    "halted_at",
    "inner_steps",
    "correct",
    "verified",
    "token_accuracy",
)


def sample_rows(
    res: ExampleResults, split: Split, *, mode: str, bucket_names: tuple[str, ...] = ()
) -> Iterator[dict[str, Any]]:
    """One dict per example of ``split`` (see the module docstring); ``res`` must hold a trajectory."""
    if res.trajectory is None:
        raise ValueError("sample logs need the evaluation's trajectory (evaluate(..., trajectory=True))")
    traj = res.trajectory.numpy()
    probs = res.halt_probs.numpy() if res.halt_probs is not None else None
    verified = res.verified.numpy() if res.verified is not None else None
    inputs, labels = split.inputs.numpy(), split.labels.numpy()
    for i in range(len(split)):
        stop = int(res.segments[i])
        bucket = int(split.bucket[i])
        yield {
            "index": i,
            "puzzle_id": int(split.puzzle_ids[i]),
            "input": inputs[i].tolist(),
            "label": labels[i].tolist(),
            "difficulty": float(split.difficulty[i]),
            "bucket": bucket_names[bucket] if bucket < len(bucket_names) else bucket,
            "mode": mode,
            "predictions": traj[i, :stop].astype(np.int64).tolist(),
            "halt_probs": None if probs is None else [round(float(p), 6) for p in probs[i, :stop]],
            "halted_at": stop,
            "inner_steps": float(res.inner_steps[i]),
            "correct": bool(res.correct[i]),
            "verified": None if verified is None else bool(verified[i]),
            "token_accuracy": round(float(res.token_accuracy[i]), 6),
        }


def write_samples(
    path: str | Path, res: ExampleResults, split: Split, *, mode: str, bucket_names: tuple[str, ...] = ()
) -> Path:
    """Write the sample log of one evaluation pass atomically (a reader never sees half a file)."""
    lines = (
        json.dumps(row, separators=(",", ":")) + "\n"
        for row in sample_rows(res, split, mode=mode, bucket_names=bucket_names)
    )
    return atomic_write(path, lambda f: f.writelines(line.encode() for line in lines))


def read_samples(path: str | Path) -> list[dict[str, Any]]:
    """The rows of a sample log."""
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]
