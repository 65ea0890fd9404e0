"""Bring a finished combination back to life: its task, its trained model, its halting policy.

A results folder holds one record per combination in ``runs/`` and the checkpoint of each in
``work/<key>/checkpoint.pt``. `find_records` picks records by their grid labels, and `restore`
rebuilds the objects from the record's resolved config and loads the weights that the evaluation
used (the EMA weights when training kept them and the evaluation asked for them), so a trace or an
analysis looks at exactly the model that the tables describe. Records are read and validated by
`looped_hrm.report.records` (each run once), the checkpoint by
`looped_hrm.training.checkpoint.load_run_checkpoint`: a malformed record, or a checkpoint that is
missing, truncated or not the run's, is one line naming the file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from looped_hrm.config import ConfigError, to_dict
from looped_hrm.contracts import HaltingPolicy, ReasoningModel, Task
from looped_hrm.report.records import load_record, read_records


@dataclass
class Restored:
    """One finished combination, ready to run."""

    record: dict[str, Any]
    path: Path  # the record file
    task: Task
    model: ReasoningModel
    policy: HaltingPolicy
    train: Any  # TrainConfig
    eval: Any  # EvalConfig
    device: torch.device

    @property
    def name(self) -> str:
        c = self.record["combination"]
        return f"{c['task']['label']}/{c['model']['label']}/{c['halting']['label']}/seed{c['seed']}"

    @property
    def eval_max_segments(self) -> int:
        return self.eval.max_segments or self.train.max_segments

    @property
    def fixed_segments(self) -> int:
        return self.eval.fixed_segments or self.eval_max_segments


def find_records(
    where: str | Path,
    *,
    task: str | None = None,
    model: str | None = None,
    halting: str | None = None,
    seed: int | None = None,
    status: str = "ok",
) -> list[Path]:
    """Record files of ``where`` (a results folder or one record) whose labels match the filters."""
    where = Path(where)
    if where.is_file():
        return [where]
    runs = where / "runs"
    if not runs.is_dir():
        raise ConfigError(f"{where}: not a results folder (no runs/ inside) and not a record file")
    wanted = {"task": task, "model": model, "halting": halting}
    out = []
    for path, record in read_records(runs):
        combo = record["combination"]
        if record["status"] != status:
            continue
        if any(v is not None and combo[k]["label"] != v for k, v in wanted.items()):
            continue
        if seed is not None and combo["seed"] != seed:
            continue
        out.append(path)
    return out


def nothing_matches(where: str | Path, **filters: Any) -> ConfigError:
    """The error of a folder where no finished run matches ``filters`` (those that are not None)."""
    asked = {k: v for k, v in filters.items() if v is not None}
    return ConfigError(f"{where}: no finished run in runs/" + (f" matches {asked}" if asked else ""))


def choose_record(
    where: str | Path,
    *,
    task: str | None = None,
    model: str | None = None,
    halting: str | None = None,
    seed: int | None = None,
) -> Path:
    """The single record matching the filters; an error listing the candidates otherwise."""
    paths = find_records(where, task=task, model=model, halting=halting, seed=seed)
    if len(paths) == 1:
        return paths[0]
    if not paths:
        raise nothing_matches(where, task=task, model=model, halting=halting, seed=seed)
    names = []
    for p in paths:
        c = load_record(p)["combination"]
        names.append(
            f"--task {c['task']['label']} --model {c['model']['label']} --halting {c['halting']['label']} "
            f"--seed {c['seed']}"
        )
    raise ConfigError(f"{where}: {len(paths)} finished runs match; choose one with\n  " + "\n  ".join(names))


def checkpoint_of(record_path: Path, record: dict[str, Any]) -> Path:
    from looped_hrm.training.checkpoint import checkpoint_path

    return checkpoint_path(record_path.parent.parent / "work" / record["key"])


def restore(record_path: str | Path, *, device: str | torch.device = "cpu") -> Restored:
    """Rebuild the task, model (trained weights loaded) and policy of a finished record."""
    from looped_hrm.resolve import Combination
    from looped_hrm.training.checkpoint import load_run_checkpoint
    from looped_hrm.training.optim import split_parameters

    record_path = Path(record_path)
    record = load_record(record_path)
    if record["status"] != "ok":
        raise ConfigError(f"{record_path}: the run did not finish (status {record['status']!r})")
    try:
        built = Combination(**record["combination"]).build()
    except TypeError as exc:  # fields of another version of the record format
        raise ConfigError(f"{record_path}: its combination cannot be rebuilt ({exc})") from None
    task, policy, train_cfg, eval_cfg = built.task, built.policy, built.train, built.eval
    model = built.model()
    ckpt = checkpoint_of(record_path, record)
    if not ckpt.exists():
        raise ConfigError(
            f"{ckpt}: missing: the checkpoint of {record_path.name} (work/ folders are not committed with "
            "results; rerun the benchmark command into this folder to train it again)"
        )
    state = load_run_checkpoint(ckpt, model, key=record["key"], train_config=to_dict(train_cfg))
    if eval_cfg.use_ema and state.get("ema") is not None:
        dense, _ = split_parameters(model)
        with torch.no_grad():
            for p, s in zip(dense, state["ema"]["shadow"]):
                p.copy_(s)
    device = torch.device(device)
    model.to(device).eval()
    return Restored(
        record=record,
        path=record_path,
        task=task,
        model=model,
        policy=policy,
        train=train_cfg,
        eval=eval_cfg,
        device=device,
    )
