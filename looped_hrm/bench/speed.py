"""``python -m looped_hrm.bench speed``: training throughput of one model, measured like the anchor.

    python -m looped_hrm.bench speed --model hrm --preset paper --task sudoku --batch 768 --compile

One timed step is exactly one engine training step (`Trainer.train_step`: one segment of the
whole batch, the halting policy's loss — for ``act_q`` including the extra no-grad lookahead forward
for the Q-continue target, as in the official HRM — backward, optimizer step). Warm-up steps
(compilation included) are excluded; the timed window is CUDA-synchronised. Reports steps/s,
sequences/s, tokens/s, FLOPs per step (counted with ``torch.utils.flop_counter.FlopCounterMode`` on
one eager step, and by the models' formula), MFU against ``--peak-tflops`` (800 on an H100: the
dense bf16 matmul rate measured there), peak memory, time to the first step, and whether anything
recompiled after warm-up or when switching to evaluation. Rows are merged into
``<out>/speed.json`` and ``<out>/speed.md`` (default ``results/gpu/<device>/`` on CUDA,
``results/cpu/`` otherwise) next to the official figures from ``shared/reference/gpu_anchor.md``.

Throughput does not depend on the puzzles (fixed batch, fixed cycles, one segment per step), so the
task's test split serves as training data: no need to build a million augmented puzzles to time.
"""

from __future__ import annotations

import argparse
import json
import re
import shlex
import time
from pathlib import Path
from typing import Any, Literal, Sequence

import torch
from tabulate import tabulate

from looped_hrm.atomic import atomic_write_json, atomic_write_text
from looped_hrm.config import Source, apply_overrides
from looped_hrm.resolve import resolve_combination

# The official code on one H100 80GB (SXM, 700 W), batch 768, bf16, compiled: shared/reference/gpu_anchor.md.
OFFICIAL_H100 = {
    ("hrm", "paper"): {"steps_per_s": 11.53, "mfu": 0.406, "peak_gib": 10.6, "tflop_per_step": 28.19},
    ("trm", "paper"): {"steps_per_s": 6.48, "mfu": 0.266, "peak_gib": 29.5, "tflop_per_step": 32.81},
    ("trm", "paper_att"): {"steps_per_s": 9.09, "mfu": 0.417, "peak_gib": 19.7, "tflop_per_step": 36.68},
}
H100_PEAK_TFLOPS = 800.0


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _compiled_frames() -> int:
    """Frames torch.compile has compiled so far in this process (a recompilation adds one)."""
    try:
        from torch._dynamo.utils import counters
    except ImportError:
        return 0
    return int(sum(counters["frames"].values())) if "frames" in counters else 0


def _peak_memory_gib(device: torch.device) -> float | None:
    return torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else None


def measure(model: str, task: str, *, preset: str | None, task_preset: str | None, halting: str, batch: int,
            steps: int, warmup: int, compile: bool, device: str, precision: Literal["auto", "bf16", "fp32"] = "auto",
            overrides: Sequence[str] = (), peak_tflops: float | None = None) -> dict[str, Any]:
    """Time ``steps`` training steps after ``warmup``; return one JSON-able row."""
    from torch.utils.flop_counter import FlopCounterMode

    from looped_hrm.evaluation.evaluate import evaluate
    from looped_hrm.training.config import TrainConfig
    from looped_hrm.training.experiment import resolve_device, seed_everything
    from looped_hrm.training.trainer import Trainer

    dev = resolve_device(device)
    values = apply_overrides({}, list(overrides))
    combo = resolve_combination(task, model, halting, preset=preset, task_preset=task_preset,
                                task_config=values.get("task"), model_config=values.get("model"),
                                halting_config=values.get("halting"), device=device, source=Source("--set"),
                                train={"steps": warmup + steps + 1, "batch_size": batch, "compile": compile,
                                       "precision": precision, "progress": False, "max_segments": 16})
    built = combo.build()
    task_obj, policy, cfg = built.task, built.policy, built.train
    seed_everything(0)
    net = built.model().to(dev)
    data = task_obj.build("test")

    # FLOPs of one step, counted on an eager copy of the step (FlopCounterMode and compile don't mix).
    counter_trainer = Trainer(net, policy, task_obj, data, TrainConfig(**{**cfg.__dict__, "compile": False}),
                              device=dev, seed=0, workdir=None, progress=False)
    with FlopCounterMode(display=False) as counter:
        counter_trainer.train_step()
    counted = float(counter.get_total_flops())
    del counter_trainer

    trainer = Trainer(net, policy, task_obj, data, cfg, device=dev, seed=0, workdir=None, progress=False)
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats(dev)
    start = time.perf_counter()
    trainer.train_step()
    _sync(dev)
    first_step_s = time.perf_counter() - start
    for _ in range(max(0, warmup - 1)):
        trainer.train_step()
    _sync(dev)
    frames_after_warmup = _compiled_frames()
    start = time.perf_counter()
    for _ in range(steps):
        trainer.train_step()
    _sync(dev)
    elapsed = time.perf_counter() - start
    frames_after_timing = _compiled_frames()
    evaluate(net, policy, task_obj, data.subset(slice(0, batch)), mode="fixed", max_segments=2, batch_size=batch,
             device=dev, loss=cfg.loss, seed=0, runner=trainer.runner)
    frames_after_eval = _compiled_frames()

    profile = net.compute_profile()
    seq_positions = int(data.inputs.shape[1]) + getattr(getattr(net, "io", None), "puzzle_emb_len", 0)
    formula = batch * (profile.train_flops + (profile.forward_flops if policy.needs_lookahead else 0.0))
    steps_per_s = steps / elapsed
    row = {
        "model": combo.model["plugin"], "preset": preset, "task": combo.task["plugin"], "halting": combo.halting["plugin"],
        "batch": batch, "compile": compile, "device": torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu",
        "precision": precision, "torch": torch.__version__, "timed_steps": steps, "warmup_steps": warmup,
        "steps_per_s": steps_per_s, "ms_per_step": 1000 * elapsed / steps,
        "sequences_per_s": batch * steps_per_s, "tokens_per_s": batch * seq_positions * steps_per_s,
        "tflop_per_step_counted": counted / 1e12, "tflop_per_step_formula": formula / 1e12,
        "achieved_tflops": counted * steps_per_s / 1e12,
        "peak_tflops": peak_tflops, "mfu": counted * steps_per_s / (peak_tflops * 1e12) if peak_tflops else None,
        "peak_memory_gib": _peak_memory_gib(dev), "first_step_s": first_step_s,
        "recompiled_during_timing": frames_after_timing > frames_after_warmup,
        "recompiled_for_eval": frames_after_eval > frames_after_timing,
        "trainable_params": profile.trainable_params, "lookahead": bool(policy.needs_lookahead),
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    official = OFFICIAL_H100.get((combo.model["plugin"], preset)) if "H100" in row["device"] else None
    if official and batch == 768:
        row["official_steps_per_s"] = official["steps_per_s"]
        row["speedup_vs_official"] = steps_per_s / official["steps_per_s"]
    return row


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower()


def write(rows: list[dict[str, Any]], out: Path, command: str) -> None:
    """Merge ``rows`` into ``out/speed.json`` (one row per model/preset/halting/batch/compile) and redraw the table."""
    path = out / "speed.json"
    existing = json.loads(path.read_text())["rows"] if path.exists() else []
    key = lambda r: (r["model"], r["preset"], r["halting"], r["batch"], r["compile"], r["precision"])  # noqa: E731
    merged = {key(r): r for r in existing}
    for r in rows:
        merged[key(r)] = {**r, "command": command}
    table = [[r["model"], r["preset"], r["halting"], r["batch"], "yes" if r["compile"] else "no",
              f"{r['steps_per_s']:.2f}", f"{r['sequences_per_s']:,.0f}", f"{r['tokens_per_s']:,.0f}",
              f"{r['tflop_per_step_counted']:.3g}", f"{r['achieved_tflops']:.3g}",
              f"{100 * r['mfu']:.1f} %" if r.get("mfu") else "—",
              f"{r['peak_memory_gib']:.1f}" if r.get("peak_memory_gib") else "—", f"{r['first_step_s']:.1f}",
              "yes" if r["recompiled_during_timing"] or r["recompiled_for_eval"] else "no",
              f"{r['official_steps_per_s']} ({r['speedup_vs_official']:.2f}×)" if r.get("official_steps_per_s") else "—"]
             for r in sorted(merged.values(), key=key)]
    headers = ["model", "preset", "halting", "batch", "compiled", "steps/s", "sequences/s", "tokens/s",
               "TFLOP/step", "TFLOP/s", "MFU", "peak GiB", "first step s", "recompiled", "official steps/s (ours ×)"]
    device = next(iter(merged.values()))["device"]
    text = (f"# Training throughput on {device}\n\nOne step = one segment of the whole batch + backward + "
            f"optimizer step (act_q includes its lookahead forward). Commands are in speed.json.\n\n"
            + tabulate(table, headers=headers, tablefmt="github") + "\n")
    atomic_write_json(path, {"rows": list(merged.values())})
    atomic_write_text(out / "speed.md", text)


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m looped_hrm.bench speed", description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--task", default="sudoku")
    parser.add_argument("--preset", default="paper", help="model preset (default paper)")
    parser.add_argument("--task-preset", default=None)
    parser.add_argument("--halting", default="act_q", help="act_q counts HRM's extra lookahead forward (default)")
    parser.add_argument("--batch", type=int, default=768)
    parser.add_argument("--steps", type=int, default=200, help="timed steps (default 200)")
    parser.add_argument("--warmup", type=int, default=20, help="untimed steps first, compilation included")
    parser.add_argument("--compile", action="store_true", help="torch.compile the segment")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--precision", default="auto", choices=["auto", "bf16", "fp32"])
    parser.add_argument("--peak-tflops", type=float, default=None,
                        help=f"for MFU (default {H100_PEAK_TFLOPS:g} on an H100, none elsewhere)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="model.x=.., task.x=..")
    parser.add_argument("--out", default=None, help="folder for speed.json/speed.md")
    args = parser.parse_args(argv)
    peak = args.peak_tflops
    if peak is None and torch.cuda.is_available() and "H100" in torch.cuda.get_device_name():
        peak = H100_PEAK_TFLOPS
    row = measure(args.model, args.task, preset=args.preset, task_preset=args.task_preset, halting=args.halting,
                  batch=args.batch, steps=args.steps, warmup=args.warmup, compile=args.compile, device=args.device,
                  precision=args.precision, overrides=args.set, peak_tflops=peak)
    out = Path(args.out) if args.out else Path("results") / ("gpu" if row["device"] != "cpu" else "cpu") / _slug(row["device"])
    write([row], out, "python -m looped_hrm.bench speed " + " ".join(shlex.quote(a) for a in argv))
    print((out / "speed.md").read_text())
    return 0
