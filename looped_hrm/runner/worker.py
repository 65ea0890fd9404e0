"""Run one combination and write its result record: the code that executes inside a worker process.

A record is one JSON file per combination in ``<out>/runs/``: the resolved combination (configs,
plugin versions and revisions, data fingerprint: everything its key hashes), the fingerprint of the
data the worker actually used, the environment (versions, device, CPU and ATen kernels, threads, git
commit and whether the tree was dirty), the metrics — or
the error, for a failed combination. It is written
atomically at the very end, so a file's existence means the combination finished; checkpoints in
``<out>/work/<key>/`` let an interrupted combination resume instead of starting over.
"""

from __future__ import annotations

import hashlib
import os
import platform
import subprocess
import time
import traceback
from importlib import metadata
from pathlib import Path
from typing import Any

from looped_hrm.atomic import atomic_write_json
from looped_hrm.resolve import Combination, data_fingerprint

RECORD_VERSION = 1


def record_path(out_dir: str | Path, combo: Combination) -> Path:
    return Path(out_dir) / "runs" / f"{combo.file_stem}.json"


def _git(where: Path, *args: str) -> str | None:
    """Output of a git command in the checkout holding ``where`` (None outside one, or without git)."""
    try:
        out = subprocess.run(["git", *args], cwd=where, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout if out.returncode == 0 else None


OUTPUTS = ("results/",)
"""Paths of a checkout that hold results, not code (`git_state` does not count their changes)."""


def git_state(where: Path | None = None) -> dict[str, Any]:
    """The commit the code came from and whether the tracked files differ from it. A commit alone does
    not identify code run from a dirty tree: such a record says so, lists the changed files, and
    hashes the diff (two records with the same hash ran the same uncommitted code). Untracked files
    are not counted, nor the committed result folders (`OUTPUTS`): a grid rerun into results/<name>
    rewrites its tables and run.json there while it runs, which changes no code."""
    where = Path(__file__).resolve().parent if where is None else where  # default: this package's checkout
    head = _git(where, "rev-parse", "HEAD")
    if head is None:
        return {"git_commit": None}
    status = (_git(where, "status", "--porcelain", "--untracked-files=no") or "").splitlines()
    changed = sorted(path for line in status if not (path := line[3:]).startswith(OUTPUTS))
    state: dict[str, Any] = {"git_commit": head.strip(), "git_dirty": bool(changed)}
    if changed:
        state["git_changed"] = changed
        diff = _git(where, "diff", "HEAD", "--binary", "--", ".", *(f":(exclude){o}" for o in OUTPUTS)) or ""
        state["git_diff_sha256"] = hashlib.sha256(diff.encode()).hexdigest()
    return state


def cpu_model() -> str | None:
    """The CPU's marketing name (Linux: /proc/cpuinfo; elsewhere what `platform` knows)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def environment(device: str) -> dict[str, Any]:
    """What made the numbers: versions, hardware, threads, commit. The CPU model and ATen's CPU
    capability (the vector kernels torch dispatched to: AVX512, AVX2, ...; ``ATEN_CPU_CAPABILITY``
    overrides it) are here because they change float rounding, and so a run, the way a new seed does."""
    import torch

    env = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "torch": torch.__version__,
        "numpy": _version("numpy"),
        "looped_hrm": _version("looped-hrm"),
        **git_state(),
        "device": device,
        "cpu_model": cpu_model(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        "hostname": platform.node(),
    }
    if device.startswith("cuda"):
        env["gpu"] = torch.cuda.get_device_name(device)
        env["cuda"] = torch.version.cuda
    return env


def samples_path(out_dir: str | Path, combo: Combination) -> Path:
    """The per-example sample log beside the record (``--log-samples``; `report` reads only ``*.json``)."""
    from looped_hrm.evaluation.samples import SAMPLES_SUFFIX

    return Path(out_dir) / "runs" / f"{combo.file_stem}{SAMPLES_SUFFIX}"


def run_combination(
    combo: Combination,
    out_dir: str | Path,
    *,
    threads: int | None = 1,
    progress: bool = False,
    dist: Any = None,
    train: bool = True,
    log_samples: bool = False,
    wandb: str | None = None,
    trained: Combination | None = None,
    workdir: str | Path | None = None,
    write: bool = True,
) -> dict[str, Any]:
    """Train and evaluate one combination; write and return its record (never raises for the run's own errors).

    ``dist`` (a `looped_hrm.engine.distributed.Dist`): one rank of a ``torchrun`` run; every rank
    trains, rank 0 alone writes. ``workdir`` holds the checkpoint and the training log (default
    ``out_dir/work/<key>``). ``train=False`` only evaluates: the checkpoint in ``workdir``, which the
    caller has checked (`looped_hrm.training.checkpoint.load_run_checkpoint`), or with no ``workdir``
    the model as built (weights from ``train.init_from``). ``write=False`` returns the record without
    writing it (`eval` keeps its records apart from the grid's). ``log_samples`` also writes the
    per-example sample log (`samples_path`) before the record.
    ``wandb``: a Weights & Biases project to log the run to (one wandb run per combination, its id
    the combination's key). Every option arrives here as an argument, never through the
    environment, so a worker on another machine (``--executor ray``) runs as asked.
    ``trained``: the combination the weights were trained under, when ``combo`` evaluates them on other
    data (``eval --test-file``): its training split is what test items are checked against.
    """
    import torch

    if threads is not None:
        torch.set_num_threads(max(1, threads))
    started = time.time()
    record: dict[str, Any] = {"record_version": RECORD_VERSION, "key": combo.key, "combination": combo.to_dict()}
    device = combo.device
    if workdir is None and train:
        workdir = Path(out_dir) / "work" / combo.key
    workdir = Path(workdir) if workdir is not None else None
    try:
        from looped_hrm.experiment.run import resolve_device

        device = str(resolve_device(combo.device))
        metrics = _experiment(
            combo,
            Path(out_dir),
            record,
            device,
            progress=progress,
            dist=dist,
            train=train,
            samples=log_samples,
            wandb=wandb,
            trained=trained,
            workdir=workdir,
        )
        per_example = metrics.pop("per_example", None)  # arrays, not metrics: kept beside them
        curve = metrics.pop("learning_curve", None)
        record.update(status="ok", metrics=metrics, per_example=per_example, learning_curve=curve)
        if "extrapolation" in metrics:
            record["extrapolation"] = metrics.pop("extrapolation")
    except Exception as exc:  # noqa: BLE001 - one failed combination must not stop the grid
        record.update(
            status="failed", error=f"{type(exc).__name__}: {exc}".splitlines()[0], traceback=traceback.format_exc()
        )
    record["wall_time_s"] = time.time() - started
    record["environment"] = environment(device)
    if dist is not None and dist.active:
        record["environment"]["ranks"] = dist.world
    record["finished_at"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    if write and (dist is None or dist.is_main):
        atomic_write_json(record_path(out_dir, combo), record)
    return record


def _experiment(
    combo: Combination,
    out_dir: Path,
    record: dict[str, Any],
    device: str,
    *,
    progress: bool,
    dist: Any,
    train: bool,
    samples: bool,
    wandb: str | None,
    trained: Combination | None,
    workdir: Path | None,
) -> dict[str, Any]:
    """Build the combination, check its data, run the experiment; notes the data and samples in ``record``."""
    from looped_hrm.experiment.run import run_experiment

    built = combo.build()
    splits = ("train", built.eval.split) if train else (built.eval.split,)  # what this run really used
    record["data"] = data_fingerprint(built.task, splits, built.train.init_from, built.test_tasks)
    if combo.data is not None and record["data"] != combo.data:
        raise RuntimeError(
            f"the task's data changed after the grid was resolved (fingerprint {combo.data} "
            f"-> {record['data']}); rerun the command"
        )

    def make_model():
        net = built.model()
        if built.train.init_from:
            from looped_hrm.training.official import load_official

            load_official(built.train.init_from, combo.model["plugin"], net)
        return net

    def on_samples(mode, results, split) -> None:
        from looped_hrm.evaluation.samples import write_samples

        bucket_names = tuple(getattr(built.task, "bucket_names", ()))
        path = write_samples(samples_path(out_dir, combo), results, split, mode=mode, bucket_names=bucket_names)
        record["samples"] = path.name

    logger = None
    if wandb is not None:
        from looped_hrm.training.wandb_logger import WandbLogger

        logger = WandbLogger(
            wandb,
            run_id=combo.key,
            name=combo.name,
            config=combo.to_dict(),
            workdir=workdir or out_dir / "work" / combo.key,
        )
    # the model is built after seeding, inside run_experiment: its initial weights follow the seed
    counted = not built.train.init_from  # weights that began elsewhere saw data this suite cannot check
    metrics = run_experiment(
        built.task,
        make_model,
        built.policy,
        built.train,
        built.eval,
        seed=combo.seed,
        device=device,
        workdir=workdir,
        progress=progress,
        dist=dist,
        train=train,
        on_samples=on_samples if samples else None,
        logger=logger,
        trained_on=trained.build().task.build("train")
        if counted and trained is not None and trained.task != combo.task
        else None,
        count_overlap=counted,
        key=combo.key if train else None,  # an evaluation's key is not its weights' (checked by the caller)
        test_tasks=built.test_tasks,
    )
    if logger is not None:
        logger.finish()
    return metrics


def skipped_record(combo: Combination) -> dict[str, Any]:
    """The record of a combination the model cannot run: kept so the tables show the reason."""
    return {
        "record_version": RECORD_VERSION,
        "key": combo.key,
        "combination": combo.to_dict(),
        "status": "skipped",
        "reason": combo.skip_reason,
    }


def failed_record(combo: Combination, error: str) -> dict[str, Any]:
    """The record written by the parent when a worker process died without writing its own."""
    return {
        "record_version": RECORD_VERSION,
        "key": combo.key,
        "combination": combo.to_dict(),
        "status": "failed",
        "error": error,
    }
