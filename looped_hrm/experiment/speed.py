"""Training throughput of one model, measured like the anchor.

    looped-hrm speed --model hrm --preset paper --task sudoku --batch 768 --compile

One timed step is exactly one engine training step (`Trainer.train_step`: one segment of the
whole batch, the halting policy's loss — for ``act_q`` including the extra no-grad lookahead forward
for the Q-continue target, as in the official HRM — backward, optimizer step). Warm-up steps
(compilation included) are excluded; the timed window is CUDA-synchronised. Reports steps/s,
sequences/s, tokens/s, FLOPs per step (counted with ``torch.utils.flop_counter.FlopCounterMode`` on
one eager step, and by the models' formula), MFU against ``--peak-tflops`` (800 on an H100: the
dense bf16 matmul rate measured there), peak memory, time to the first step, and — with ``--compile`` —
the compile time and the recompilations after warm-up (0: the training graph and the inference
graph of `looped_hrm.engine.compiled` serve every timed step and an evaluation pass at another batch size). Rows are merged into
``<out>/speed.json`` and ``<out>/speed.md`` (default ``results/gpu/<device>/`` on CUDA,
``results/cpu/`` otherwise) next to the official figures of docs/reference.md §6.

Throughput does not depend on the puzzles (fixed batch, fixed cycles, one segment per step), so the
task's test split serves as training data: no need to build a million augmented puzzles to time.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any, Literal, Sequence

import torch
from tabulate import tabulate

from looped_hrm.atomic import atomic_write_json, atomic_write_text
from looped_hrm.config import ConfigError, Source, apply_overrides
from looped_hrm.resolve import Combination, resolve_combination

# The official code on one H100 80GB (SXM, 700 W), batch 768, bf16, compiled: docs/reference.md §6.
OFFICIAL_H100: dict[tuple[str, str | None], dict[str, float]] = {
    ("hrm", "paper"): {"steps_per_s": 11.53, "mfu": 0.406, "peak_gib": 10.6, "tflop_per_step": 28.19},
    ("trm", "paper"): {"steps_per_s": 6.48, "mfu": 0.266, "peak_gib": 29.5, "tflop_per_step": 32.81},
    ("trm", "paper_att"): {"steps_per_s": 9.09, "mfu": 0.417, "peak_gib": 19.7, "tflop_per_step": 36.68},
}
H100_PEAK_TFLOPS = 800.0


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _peak_memory_gib(device: torch.device) -> float | None:
    return torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else None


def measure(
    model: str,
    task: str,
    *,
    preset: str | None,
    task_preset: str | None,
    halting: str | None,
    batch: int,
    steps: int,
    warmup: int,
    compile: bool,
    device: str,
    precision: Literal["auto", "bf16", "fp32"] = "auto",
    overrides: Sequence[str] = (),
    peak_tflops: float | None = None,
    compile_backend: str = "inductor",
) -> dict[str, Any]:
    """Time ``steps`` training steps after a warm-up; return one JSON-able row.

    Warm-up: ``warmup`` training steps and one evaluation pass (``2 * batch + 1`` examples at batch
    ``2 * batch``, so a larger batch and a tail of one row), which is where compilation happens.
    After the timed steps the same evaluation runs again; ``recompiles_after_warmup`` counts the
    graphs compiled by the timed steps and that second pass (0 expected).
    """
    from looped_hrm.engine.compiled import compiled_segment
    from looped_hrm.experiment.run import resolve_device, seed_everything
    from looped_hrm.training.trainer import Trainer

    if warmup < 1:
        raise ValueError(f"warmup must be >= 1 (the first step compiles), got {warmup}")
    dev = resolve_device(device)
    train = {
        "steps": warmup + steps + 1,
        "batch_size": batch,
        "compile": compile,
        "compile_backend": compile_backend,
        "precision": precision,
        "progress": False,
        "max_segments": 16,
    }
    combo = _resolve(task, model, halting, preset, task_preset, overrides, device, train)
    built = combo.build()
    task_obj, policy, cfg = built.task, built.policy, built.train
    seed_everything(0)
    net = built.model().to(dev)
    data = task_obj.build("test")
    counted = _counted_flops(net, policy, task_obj, data, cfg, dev)
    trainer = Trainer(net, policy, task_obj, data, cfg, device=dev, seed=0, workdir=None, progress=False)
    compiled = compiled_segment(net, compile_backend) if compile else None
    eval_split = data.subset(slice(0, min(2 * batch + 1, len(data))))
    timing = _timed(trainer, eval_split, batch, warmup, steps, compiled, precision)
    row = {
        "model": combo.model["plugin"],
        "preset": preset,
        "overrides": list(overrides),
        "task": combo.task["plugin"],
        "halting": combo.halting["plugin"],
        "batch": batch,
        "compile": compile,
        "device": torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu",
        "precision": precision,
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "timed_steps": steps,
        "warmup_steps": warmup,
        **_rates(net, policy, batch, steps, timing["elapsed"], counted, peak_tflops),
        "peak_memory_gib": _peak_memory_gib(dev),
        "first_step_s": timing["first_step_s"],
        "compile_backend": compile_backend if compile else None,
        "compile_s": compiled.compile_s if compiled is not None else None,
        "graphs_compiled": timing["graphs_warmup"],
        "recompiles_after_warmup": timing["graphs_after"] - timing["graphs_warmup"],
        "fullgraph": compiled.fullgraph if compiled is not None else None,
        "trainable_params": net.compute_profile().trainable_params,
        "lookahead": bool(policy.needs_lookahead),
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    official = OFFICIAL_H100.get((combo.model["plugin"], preset)) if "H100" in row["device"] else None
    if official and batch == 768:
        row["official_steps_per_s"] = official["steps_per_s"]
        row["speedup_vs_official"] = row["steps_per_s"] / official["steps_per_s"]
    return row


def _resolve(
    task: str,
    model: str,
    halting: str | None,
    preset: str | None,
    task_preset: str | None,
    overrides: Sequence[str],
    device: str,
    train: dict[str, Any],
) -> Combination:
    values = apply_overrides({}, list(overrides))
    return resolve_combination(
        task,
        model,
        halting,
        preset=preset,
        task_preset=task_preset,
        task_config=values.get("task"),
        model_config=values.get("model"),
        halting_config=values.get("halting"),
        device=device,
        source=Source("--set"),
        train=train,
    )


def _rates(net, policy, batch: int, steps: int, elapsed: float, counted: float, peak_tflops: float | None) -> dict:
    """Throughput of the timed steps, and FLOPs per step counted and by the model's formula."""
    profile = net.compute_profile()
    seq_positions = int(net.io.seq_len)  # positions the reasoning core sees: puzzle prefix + task cells
    formula = batch * (profile.train_flops + (profile.forward_flops if policy.needs_lookahead else 0.0))
    steps_per_s = steps / elapsed
    return {
        "steps_per_s": steps_per_s,
        "ms_per_step": 1000 * elapsed / steps,
        "sequences_per_s": batch * steps_per_s,
        "seq_positions": seq_positions,
        "tokens_per_s": batch * seq_positions * steps_per_s,
        "tflop_per_step_counted": counted / 1e12,
        "tflop_per_step_formula": formula / 1e12,
        "achieved_tflops": counted * steps_per_s / 1e12,
        "peak_tflops": peak_tflops,
        "mfu": counted * steps_per_s / (peak_tflops * 1e12) if peak_tflops else None,
    }


def _counted_flops(net, policy, task, data, cfg, dev: torch.device) -> float:
    """FLOPs of one training step, counted on an eager copy of the step (FlopCounterMode and compile
    don't mix)."""
    from torch.utils.flop_counter import FlopCounterMode

    from looped_hrm.training.config import TrainConfig
    from looped_hrm.training.trainer import Trainer

    eager = TrainConfig(**{**cfg.__dict__, "compile": False})
    counter_trainer = Trainer(net, policy, task, data, eager, device=dev, seed=0, workdir=None, progress=False)
    with FlopCounterMode(display=False) as counter:
        counter_trainer.train_step()
    return float(counter.get_total_flops())


def _timed(trainer, eval_split, batch: int, warmup: int, steps: int, compiled, precision: str) -> dict[str, float]:
    """The first step's time, the warm-up (steps and one evaluation pass), the timed steps, then the
    evaluation again; with the graphs compiled by the end of the warm-up and by the end."""
    from looped_hrm.evaluation.evaluate import evaluate

    dev, cfg = trainer.device, trainer.cfg

    def eval_pass() -> None:
        evaluate(
            trainer.model,
            trainer.policy,
            trainer.task,
            eval_split,
            mode="fixed",
            max_segments=2,
            batch_size=2 * batch,
            device=dev,
            loss=cfg.loss,
            precision=precision,
            seed=0,
            verify=False,
            runner=trainer.runner,
        )

    def graphs() -> int:
        return compiled.graphs if compiled is not None else 0

    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats(dev)
    start = time.perf_counter()
    trainer.train_step()
    _sync(dev)
    first_step_s = time.perf_counter() - start
    for _ in range(warmup - 1):
        trainer.train_step()
    eval_pass()
    _sync(dev)
    graphs_warmup = graphs()
    start = time.perf_counter()
    for _ in range(steps):
        trainer.train_step()
    _sync(dev)
    elapsed = time.perf_counter() - start
    eval_pass()
    _sync(dev)
    return {"first_step_s": first_step_s, "elapsed": elapsed, "graphs_warmup": graphs_warmup, "graphs_after": graphs()}


def device_slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower()


ROW_FIELDS = (
    "model",
    "preset",
    "halting",
    "batch",
    "compile",
    "precision",
    "steps_per_s",
    "sequences_per_s",
    "tokens_per_s",
    "tflop_per_step_counted",
    "achieved_tflops",
    "first_step_s",
)
"""What every row of ``speed.json`` holds: its key and the numbers the table prints."""


def read_rows(out: Path) -> list[dict[str, Any]]:
    """The rows of ``out/speed.json`` (none when there is no such file), or a `ConfigError` naming the
    file: a damaged or foreign table is never merged into (nor lost by rewriting it)."""
    path = out / "speed.json"
    if not path.exists():
        return []
    try:
        data = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{path}: not a readable speed table ({exc}); move it away to start a new one") from None
    rows = data.get("rows") if isinstance(data, dict) else None
    if not isinstance(rows, list) or not all(isinstance(r, dict) and all(f in r for f in ROW_FIELDS) for r in rows):
        raise ConfigError(
            f'{path}: not a speed table (expected {{"rows": [...]}}, each row with {", ".join(ROW_FIELDS)}); '
            "move it away to start a new one"
        )
    return rows


def write(rows: list[dict[str, Any]], out: Path, command: str) -> None:
    """Merge ``rows`` into ``out/speed.json`` (one row per model/preset/overrides/halting/batch/compile/precision)
    and redraw the table."""
    path = out / "speed.json"
    existing = read_rows(out)

    def key(r: dict[str, Any]) -> tuple:
        return (
            r["model"],
            r["preset"],
            " ".join(r.get("overrides", [])),
            r["halting"],
            r["batch"],
            r["compile"],
            r["precision"],
        )

    merged = {key(r): r for r in existing}
    for r in rows:
        merged[key(r)] = {**r, "command": command}
    table = [
        [
            r["model"],
            " ".join([str(r["preset"]), *r.get("overrides", [])]),
            r["halting"],
            r["batch"],
            "yes" if r["compile"] else "no",
            f"{r['steps_per_s']:.2f}",
            f"{r['sequences_per_s']:,.0f}",
            f"{r['tokens_per_s']:,.0f}",
            f"{r['tflop_per_step_counted']:.3g}",
            f"{r['achieved_tflops']:.3g}",
            f"{100 * r['mfu']:.1f} %" if r.get("mfu") else "—",
            f"{r['peak_memory_gib']:.1f}" if r.get("peak_memory_gib") else "—",
            f"{r['first_step_s']:.1f}",
            f"{r['compile_s']:.1f}" if r.get("compile_s") is not None else "—",
            str(r.get("recompiles_after_warmup", "—")) if r["compile"] else "—",
            f"{r['official_steps_per_s']} ({r['speedup_vs_official']:.2f}×)" if r.get("official_steps_per_s") else "—",
        ]
        for r in sorted(merged.values(), key=key)
    ]
    headers = [
        "model",
        "preset",
        "halting",
        "batch",
        "compiled",
        "steps/s",
        "sequences/s",
        "tokens/s",
        "TFLOP/step",
        "TFLOP/s",
        "MFU",
        "peak GiB",
        "first step s",
        "compile s",
        "recompiles after warm-up",
        "official steps/s (ours ×)",
    ]
    device = next(iter(merged.values()))["device"]
    text = (
        f"# Training throughput on {device}\n\nOne step = one segment of the whole batch + backward + "
        f"optimizer step (act_q includes its lookahead forward). Commands are in speed.json.\n\n"
        + tabulate(table, headers=headers, tablefmt="github")
        + "\n"
    )
    atomic_write_json(path, {"rows": list(merged.values())})
    atomic_write_text(out / "speed.md", text)
