"""Executors: where the combinations of a grid run.

* ``local`` (default): one fresh process per combination, at most ``jobs`` at a time, torch threads
  divided between them. A crash, an OOM kill or a segfault in one combination becomes a failed
  row; the others go on. Workers die with the parent (no orphans after ``kill -9``), so a rerun
  never races a leftover worker.
* ``ray``: the same worker function as Ray tasks (``pip install looped-hrm[ray]``), on a local Ray
  instance or the cluster named by ``--ray-address``/``RAY_ADDRESS``; the records travel back to the
  driver, so the cluster needs no shared filesystem for results.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import multiprocessing.connection
import os
import signal
import sys
from pathlib import Path
from typing import Any, Callable

from looped_hrm.atomic import atomic_write_json
from looped_hrm.resolve import Combination
from looped_hrm.runner.live import LiveBars
from looped_hrm.runner.worker import failed_record, record_path, run_combination

OnDone = Callable[[Combination, dict[str, Any]], None]


def _die_with_parent(parent: int) -> None:
    """SIGKILL this process when its parent dies; exit now if it already has (Linux; elsewhere no-op).

    The flag only covers deaths *after* it is set, and a spawned worker sets it only once its
    interpreter has started and imported the engine (seconds). A parent killed in that window
    would leave an orphan that trains beside the rerun, so the parent is checked again after.
    """
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    PR_SET_PDEATHSIG = 1
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except OSError:
        pass
    if os.getppid() != parent:
        os._exit(1)


def _child(combo: dict[str, Any], out_dir: str, parent: int, options: dict[str, Any]) -> None:
    _die_with_parent(parent)
    run_combination(Combination(**combo), out_dir, **options)


def _death_message(exitcode: int | None) -> str:
    if exitcode is not None and exitcode < 0:
        name = signal.Signals(-exitcode).name
        hint = " (killed: out of memory?)" if -exitcode == signal.SIGKILL else ""
        return f"worker process died from {name}{hint} before writing its result"
    return f"worker process exited with code {exitcode} before writing its result"


def run_local(
    combos: list[Combination],
    out_dir: Path,
    *,
    jobs: int,
    threads: int,
    progress: bool,
    on_done: OnDone,
    log_samples: bool = False,
    wandb: str | None = None,
    live: LiveBars | None = None,
) -> None:
    """Run ``combos`` in at most ``jobs`` spawned processes, calling ``on_done`` as each finishes
    (``live``: one progress bar per running combination, polled about once a second). The run
    options (``progress``, ``log_samples``, ``wandb``) go to `run_combination` as arguments."""
    options = {"threads": threads, "progress": progress, "log_samples": log_samples, "wandb": wandb}
    ctx = mp.get_context("spawn")  # fork after torch has started threads is unsafe
    pending = list(combos)
    running: dict[Any, tuple[Any, Combination]] = {}
    old_omp = os.environ.get("OMP_NUM_THREADS")
    os.environ["OMP_NUM_THREADS"] = str(threads)  # inherited by the spawned workers
    try:
        while pending or running:
            while pending and len(running) < jobs:
                combo = pending.pop(0)
                record_path(out_dir, combo).unlink(missing_ok=True)  # a stale failed record
                proc = ctx.Process(
                    target=_child,
                    args=(combo.to_dict(), str(out_dir), os.getpid(), options),
                    name=f"looped_hrm:{combo.name}",
                )
                proc.start()
                running[proc.sentinel] = (proc, combo)
                if live is not None:
                    live.start(combo.key, combo.name)
            ready = multiprocessing.connection.wait(list(running), timeout=1.0 if live is not None else None)
            if live is not None:
                live.poll()
            for sentinel in ready:
                proc, combo = running.pop(sentinel)
                proc.join()
                if live is not None:
                    live.finish(combo.key)
                path = record_path(out_dir, combo)
                if path.exists():
                    record = json.loads(path.read_text())
                else:
                    record = failed_record(combo, _death_message(proc.exitcode))
                    atomic_write_json(path, record)
                on_done(combo, record)
    finally:
        if live is not None:
            live.close()
        for proc, _ in running.values():
            proc.kill()
        if old_omp is None:
            os.environ.pop("OMP_NUM_THREADS", None)
        else:
            os.environ["OMP_NUM_THREADS"] = old_omp


def run_ray(
    combos: list[Combination],
    out_dir: Path,
    *,
    threads: int,
    address: str | None,
    on_done: OnDone,
    log_samples: bool = False,
    wandb: str | None = None,
) -> None:
    """Run ``combos`` as Ray tasks (one CPU bundle of ``threads`` cores, plus a GPU for CUDA runs); the
    run options go to `run_combination` as arguments (a remote worker sees none of the driver's
    environment). Sample logs (``log_samples``) are written by the worker into ``out_dir``: a shared
    filesystem."""
    try:
        import ray
    except ImportError as exc:
        raise RuntimeError("--executor ray needs Ray: pip install 'looped-hrm[ray]'") from exc
    ray.init(address=address, ignore_reinit_error=True, log_to_driver=False)
    refs = {}
    for combo in combos:
        gpus = 1 if combo.device.startswith("cuda") else 0
        task = ray.remote(num_cpus=threads, num_gpus=gpus, max_retries=0)(run_combination)
        ref = task.remote(combo, str(out_dir), threads=threads, log_samples=log_samples, wandb=wandb)  # type: ignore[call-arg]  # ray's stubs miss kw-only args
        refs[ref] = combo
    while refs:
        done, _ = ray.wait(list(refs), num_returns=1)
        for ref in done:
            combo = refs.pop(ref)
            try:
                record = ray.get(ref)
            except Exception as exc:  # noqa: BLE001 - a lost worker or node is one failed row
                record = failed_record(combo, f"ray task failed: {type(exc).__name__}: {exc}".splitlines()[0])
            atomic_write_json(record_path(out_dir, combo), record)
            on_done(combo, record)
