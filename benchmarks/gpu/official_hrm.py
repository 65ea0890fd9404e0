"""Time the official HRM (sapientinc/HRM) training step the way `looped-hrm speed` times ours.

    python benchmarks/gpu/official_hrm.py --hrm-dir .gpu/official/HRM --batch 768 --steps 50 --warmup 10 --out DIR

The official code is never part of this repository: ``--hrm-dir`` is a copy placed beforehand in
the git-ignored ``.gpu/`` folder (``benchmarks/gpu/prepare.sh``). From it this script imports the
model (``models/hrm/hrm_act_v1.py``), its loss head with the ACT wrapper (``models/losses.py``) and
the sparse puzzle-embedding optimizer, builds them as ``pretrain.py`` does (published Sudoku
config, ``torch.compile(model, dynamic=False)``, batch 768) and runs ``pretrain.train_batch``'s
step: forward (with its extra no-grad forward for the Q-continue target), ``loss / batch``
backward, both optimizers. The two substitutions of the H100 measurement (docs/reference.md §6):

* ``flash_attn`` -> ``torch.nn.functional.scaled_dot_product_attention`` (a stand-in module named
  ``flash_attn_interface`` with the same call and tensor layout);
* ``adam_atan2.AdamATan2`` (a CUDA extension) -> `looped_hrm.training.optim.AdamAtan2`, the same
  maths in plain torch.

Throughput does not depend on the puzzles (fixed batch, fixed cycles, one segment per step), so
the batches are random Sudoku-shaped token grids (never zeros), rotated among four on the device.
FLOPs per step are counted with ``FlopCounterMode`` on one eager step before compiling.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import time
import types
from pathlib import Path

import torch
import torch.nn.functional as F

# the published Sudoku-Extreme architecture (config/arch/hrm_v1.yaml); vocabulary and length of 9x9 Sudoku
PAPER = {
    "H_cycles": 2,
    "L_cycles": 2,
    "H_layers": 4,
    "L_layers": 4,
    "hidden_size": 512,
    "num_heads": 8,
    "expansion": 4,
    "pos_encodings": "rope",
    "halt_max_steps": 16,
    "halt_exploration_prob": 0.1,
}
TINY = {**PAPER, "H_layers": 1, "L_layers": 1, "hidden_size": 32, "num_heads": 2, "halt_max_steps": 4}
VOCAB, SEQ_LEN, IGNORE_LABEL = 11, 81, -100


def _flash_attn_stand_in() -> types.ModuleType:
    """``flash_attn_func(q, k, v, causal)`` on ``[B, S, H, D]`` tensors, computed by SDPA."""
    module = types.ModuleType("flash_attn_interface")

    def flash_attn_func(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, causal: bool = False, **_: object):
        out = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), is_causal=causal)
        return out.transpose(1, 2).contiguous()

    module.flash_attn_func = flash_attn_func  # type: ignore[attr-defined]
    return module


def _adam_atan2_stand_in() -> types.ModuleType:
    from looped_hrm.training.optim import AdamAtan2

    module = types.ModuleType("adam_atan2")

    class AdamATan2(AdamAtan2):
        def __init__(self, params, lr: float = 1e-4, betas=(0.9, 0.95), weight_decay: float = 0.1, **_: object):
            super().__init__(params, lr=lr, betas=betas, weight_decay=weight_decay)

    module.AdamATan2 = AdamATan2  # type: ignore[attr-defined]
    return module


def _import_official(hrm_dir: Path):
    if not (hrm_dir / "models" / "hrm" / "hrm_act_v1.py").exists():
        raise SystemExit(
            f"{hrm_dir}: no official HRM copy here (models/hrm/hrm_act_v1.py missing); "
            "run benchmarks/gpu/prepare.sh first"
        )
    sys.modules.setdefault("flash_attn_interface", _flash_attn_stand_in())
    sys.modules.setdefault("adam_atan2", _adam_atan2_stand_in())
    sys.path.insert(0, str(hrm_dir))
    official = {
        name: importlib.import_module(name)
        for name in ("models.hrm.hrm_act_v1", "models.losses", "models.sparse_embedding", "adam_atan2")
    }
    return (
        official["models.hrm.hrm_act_v1"].HierarchicalReasoningModel_ACTV1,
        official["models.losses"].ACTLossHead,
        official["models.sparse_embedding"].CastedSparseEmbeddingSignSGD_Distributed,
        official["adam_atan2"].AdamATan2,
    )  # the last one: the stand-in above


def _batches(batch: int, device: torch.device, count: int = 4) -> list[dict[str, torch.Tensor]]:
    """Random Sudoku-shaped batches in the official encoding (0 pad, 1 blank, 2..10 digits)."""
    gen = torch.Generator().manual_seed(0)
    out = []
    for _ in range(count):
        labels = torch.randint(2, VOCAB, (batch, SEQ_LEN), generator=gen, dtype=torch.int32)
        blank = torch.rand(batch, SEQ_LEN, generator=gen) < 0.7
        inputs = torch.where(blank, torch.ones_like(labels), labels)
        ids = torch.zeros(batch, dtype=torch.int32)  # Sudoku: one puzzle identifier
        out.append(
            {k: v.to(device) for k, v in {"inputs": inputs, "labels": labels, "puzzle_identifiers": ids}.items()}
        )
    return out


def measure(
    hrm_dir: Path,
    *,
    batch: int,
    steps: int,
    warmup: int,
    compile: bool,
    device: str,
    tiny: bool = False,
    peak_tflops: float | None = None,
    backend: str = "inductor",
) -> dict:
    from torch.utils.flop_counter import FlopCounterMode

    Model, LossHead, SparseSignSGD, AdamATan2 = _import_official(hrm_dir)
    dev = torch.device(device)
    cuda = dev.type == "cuda"
    arch = TINY if tiny else PAPER
    config = dict(
        **arch,
        batch_size=batch,
        vocab_size=VOCAB,
        seq_len=SEQ_LEN,
        num_puzzle_identifiers=1,
        puzzle_emb_ndim=arch["hidden_size"],
        causal=False,
        forward_dtype="bfloat16" if cuda else "float32",
    )
    torch.manual_seed(0)
    with torch.device(dev):
        model = LossHead(Model(config), loss_type="stablemax_cross_entropy")
    optimizers = [
        SparseSignSGD(model.model.puzzle_emb.buffers(), lr=1e-2, weight_decay=0.1, world_size=1),
        AdamATan2(model.parameters(), lr=1e-4, weight_decay=0.1, betas=(0.9, 0.95)),
    ]
    batches = _batches(batch, dev)
    state: dict = {"carry": None, "i": 0}

    def train_batch(net) -> None:  # pretrain.train_batch, one process
        data = batches[state["i"] % len(batches)]
        state["i"] += 1
        if state["carry"] is None:
            with torch.device(dev):
                state["carry"] = net.initial_carry(data)
        state["carry"], loss, _metrics, _, _ = net(carry=state["carry"], batch=data, return_keys=[])
        ((1 / batch) * loss).backward()
        for opt in optimizers:
            opt.step()
            opt.zero_grad()

    def sync() -> None:
        if cuda:
            torch.cuda.synchronize(dev)

    model.train()
    with FlopCounterMode(display=False) as counter:  # one eager step
        train_batch(model)
    counted = float(counter.get_total_flops())
    net = torch.compile(model, dynamic=False, backend=backend) if compile else model  # as pretrain.py

    from torch._dynamo.utils import counters

    def graphs() -> int:
        return int(counters["stats"]["unique_graphs"])

    graphs_before = graphs()
    if cuda:
        torch.cuda.reset_peak_memory_stats(dev)
    start = time.perf_counter()
    train_batch(net)
    sync()
    first_step_s = time.perf_counter() - start
    for _ in range(warmup - 1):
        train_batch(net)
    sync()
    graphs_warmup = graphs()
    start = time.perf_counter()
    for _ in range(steps):
        train_batch(net)
    sync()
    elapsed = time.perf_counter() - start
    steps_per_s = steps / elapsed
    positions = SEQ_LEN + 1  # 81 cells + 1 puzzle-embedding position
    return {
        "model": "official HRM (sapientinc/HRM)",
        "preset": "tiny" if tiny else "paper",
        "batch": batch,
        "compile": compile,
        "compile_backend": backend if compile else None,
        "device": torch.cuda.get_device_name(dev) if cuda else "cpu",
        "precision": "bf16" if cuda else "fp32",
        "torch": torch.__version__,
        "timed_steps": steps,
        "warmup_steps": warmup,
        "steps_per_s": steps_per_s,
        "ms_per_step": 1000 * elapsed / steps,
        "sequences_per_s": batch * steps_per_s,
        "seq_positions": positions,
        "tokens_per_s": batch * positions * steps_per_s,
        "tflop_per_step_counted": counted / 1e12,
        "achieved_tflops": counted * steps_per_s / 1e12,
        "peak_tflops": peak_tflops,
        "mfu": counted * steps_per_s / (peak_tflops * 1e12) if peak_tflops else None,
        "peak_memory_gib": torch.cuda.max_memory_allocated(dev) / 2**30 if cuda else None,
        "first_step_s": first_step_s,
        "graphs_compiled": graphs_warmup - graphs_before,
        "recompiles_after_warmup": graphs() - graphs_warmup,
        "substitutions": "flash_attn -> SDPA; AdamATan2 (CUDA) -> looped_hrm.training.optim.AdamAtan2 (same maths)",
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hrm-dir", default=".gpu/official/HRM", type=Path)
    parser.add_argument("--batch", type=int, default=768)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--no-compile", dest="compile", action="store_false")
    parser.add_argument("--compile-backend", default="inductor", help="aot_eager: capture only (CPU rehearsal)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--tiny", action="store_true", help="tiny architecture (CPU rehearsal)")
    parser.add_argument("--peak-tflops", type=float, default=None)
    parser.add_argument("--out", type=Path, required=True, help="writes official_hrm.json here")
    args = parser.parse_args(argv)
    row = measure(
        args.hrm_dir.resolve(),
        batch=args.batch,
        steps=args.steps,
        warmup=args.warmup,
        compile=args.compile,
        device=args.device,
        tiny=args.tiny,
        peak_tflops=args.peak_tflops,
        backend=args.compile_backend,
    )
    row["command"] = "python benchmarks/gpu/official_hrm.py " + " ".join(sys.argv[1:] if argv is None else argv)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "official_hrm.json").write_text(json.dumps(row, indent=1) + "\n")
    print(json.dumps(row))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
