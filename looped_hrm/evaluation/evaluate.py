"""Evaluate a model on a split, either to the policy's decision or to a fixed number of segments.

Both modes stream the split through `Slots` (one ordered pass): an example that finishes leaves its
slot at once and the next example takes it, so in ``policy`` mode the compute an early exit saves is
really not spent, and the FLOPs reported are the FLOPs run. Per-example results are written on the
device when an example finishes (a scatter into an ``N + 1`` buffer whose last row absorbs the rows
that did not finish), and copied to the host once at the end.

Data parallel (``dist`` with several ranks): each rank evaluates a contiguous shard of the split
with its share of the batch, and the per-example results are gathered in order, so every rank
returns the same `ExampleResults` as one process would (up to floating-point batch effects).
"""

from __future__ import annotations

import time
from typing import Literal, Sequence

import torch
from tqdm.auto import tqdm

from looped_hrm.contracts import HaltingPolicy, ReasoningModel, Split, Task
from looped_hrm.engine.correctness import label_free_verifier, token_accuracy
from looped_hrm.engine.distributed import Dist
from looped_hrm.engine.segment import SegmentRunner
from looped_hrm.engine.slots import DeviceSplit, ExampleQueue, Slots
from looped_hrm.evaluation.metrics import ExampleResults, verify_all

Mode = Literal["policy", "fixed"]


@torch.no_grad()
def evaluate(
    model: ReasoningModel,
    policy: HaltingPolicy,
    task: Task,
    split: Split,
    *,
    mode: Mode,
    max_segments: int,
    batch_size: int,
    device: torch.device,
    loss: str = "stablemax",
    precision: str = "auto",
    seed: int = 0,
    curve: Sequence[int] = (),
    verify: bool = True,
    runner: SegmentRunner | None = None,
    dist: Dist | None = None,
    progress: bool = False,
    trajectory: bool = False,
) -> ExampleResults:
    """Run every example of ``split`` until the policy halts it (``mode="policy"``, capped at
    ``max_segments``) or for exactly ``max_segments`` segments (``mode="fixed"``).

    ``progress``: a live bar (examples done, exact accuracy so far, mean segments, examples/s, ETA);
    it reads the device once per segment, so it is off unless a person is watching.

    ``trajectory`` also keeps every example's prediction and halting probability after each segment
    it ran (``ExampleResults.trajectory`` / ``halt_probs``; for the sample logs; not merged across ranks)."""
    if dist is not None and dist.active:
        lo, hi = dist.shard(len(split))
        part = (
            evaluate(
                model,
                policy,
                task,
                split.subset(slice(lo, hi)),
                mode=mode,
                max_segments=max_segments,
                batch_size=max(1, batch_size // dist.world),
                device=device,
                loss=loss,
                precision=precision,
                seed=seed + dist.rank,
                curve=curve,
                verify=verify,
                runner=runner,
                progress=progress and dist.is_main,
            )
            if hi > lo
            else None
        )
        return merge_results([r for r in dist.all_gather_object(part) if r is not None])
    n = len(split)
    if runner is None:
        runner = SegmentRunner(
            model, policy, loss=loss, device=device, precision=precision, verify=label_free_verifier(task)
        )
    curve = sorted({c for c in curve if c <= max_segments})
    data = DeviceSplit.from_split(split, device)
    queue = ExampleQueue(n, device, shuffle=False, epochs=1)
    slots = Slots(
        data,
        queue,
        model,
        policy,
        min(batch_size, n),
        extras={
            "inner": ((), torch.float32),
            "flops": ((), torch.float32),
            "first_correct": ((), torch.int64),
            "correct_at": ((len(curve),), torch.bool),
            **(
                {
                    "traj": ((max_segments, split.inputs.shape[1]), torch.int16),
                    "traj_q": ((max_segments,), torch.float32),
                }
                if trajectory
                else {}
            ),
        },
    )
    generator = torch.Generator(device=device).manual_seed(seed)
    profile = model.compute_profile()

    def buffer(shape=(), dtype=torch.float32):
        return torch.zeros((n + 1, *shape), dtype=dtype, device=device)

    seq_len = split.inputs.shape[1]
    out_preds, out_correct, out_tok = buffer((seq_len,), torch.int64), buffer((), torch.bool), buffer()
    out_steps, out_inner, out_flops = buffer((), torch.int64), buffer(), buffer()
    out_first, out_curve = buffer((), torch.int64), buffer((len(curve),), torch.bool)
    halt_agree = torch.zeros((), device=device)
    decisions = 0
    policy_sums: dict[str, torch.Tensor] = {}
    curve_t = torch.tensor(curve, dtype=torch.int64, device=device)
    out_traj = buffer((max_segments, seq_len), torch.int16) if trajectory else None
    out_traj_q = buffer((max_segments,)) if trajectory else None
    has_q = False

    was_training = model.training
    model.eval()
    start = time.perf_counter()
    bar = tqdm(total=n, desc=f"eval ({mode})", unit="ex", disable=not progress, dynamic_ncols=True, leave=False)
    right = segments = 0
    try:
        while True:
            slots.refill()
            if slots.finished:
                break
            st = runner(
                slots.carry,
                slots.batch,
                slots.pstate,
                slots.steps,
                training=False,
                max_steps=max_segments,
                generator=generator,
            )
            halt = st.halt if mode == "policy" else st.steps >= max_segments
            out = st.output
            ex = slots.extras
            inner = (
                out.inner_steps.float()
                if out.inner_steps is not None
                else torch.full_like(ex["inner"], float(profile.inner_steps))
            )
            flops = (
                out.flops.float()
                if out.flops is not None
                else torch.full_like(ex["flops"], float(profile.forward_flops))
            )
            ex["inner"] = ex["inner"] + inner
            ex["flops"] = ex["flops"] + flops
            ex["first_correct"] = torch.where((ex["first_correct"] == 0) & st.correct, st.steps, ex["first_correct"])
            if len(curve):
                at = st.steps.unsqueeze(1) == curve_t.unsqueeze(0)
                ex["correct_at"] = torch.where(at, st.correct.unsqueeze(1), ex["correct_at"])
            if mode == "policy":
                halt_agree += (st.decision.halt.to(torch.bool) == st.correct).sum()
                decisions += len(halt)
                for name, value in st.decision.metrics.items():
                    policy_sums[name] = policy_sums.get(name, 0) + value.detach().float()

            if trajectory:
                rows, at = torch.arange(len(halt), device=device), (st.steps - 1).clamp(max=max_segments - 1)
                ex["traj"][rows, at] = st.predictions.to(torch.int16)
                if out.q_halt is not None:
                    has_q = True
                    ex["traj_q"][rows, at] = torch.sigmoid(out.q_halt.float())

            dest = torch.where(halt, slots.index, n)
            out_preds.index_copy_(0, dest, st.predictions)
            out_correct.index_copy_(0, dest, st.correct)
            out_tok.index_copy_(0, dest, token_accuracy(st.predictions, slots.batch.labels))
            out_steps.index_copy_(0, dest, st.steps)
            out_inner.index_copy_(0, dest, ex["inner"])
            out_flops.index_copy_(0, dest, ex["flops"])
            out_first.index_copy_(0, dest, ex["first_correct"])
            out_curve.index_copy_(0, dest, ex["correct_at"])
            if out_traj is not None and out_traj_q is not None:
                out_traj.index_copy_(0, dest, ex["traj"])
                out_traj_q.index_copy_(0, dest, ex["traj_q"])

            if progress:
                right += int((st.correct & halt).sum())
                segments += int((st.steps * halt).sum())
                done = int(halt.sum())
                seen = max(bar.n + done, 1)
                bar.set_postfix(exact=f"{right / seen:.3f}", segs=f"{segments / seen:.2f}", refresh=False)
                bar.update(done)
            slots.advance(st, halt)
    finally:
        bar.close()
        model.train(was_training)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    wall = time.perf_counter() - start

    res = ExampleResults(
        predictions=out_preds[:n].cpu(),
        correct=out_correct[:n].cpu(),
        token_accuracy=out_tok[:n].cpu(),
        segments=out_steps[:n].cpu(),
        inner_steps=out_inner[:n].cpu(),
        flops=out_flops[:n].cpu(),
        first_correct=out_first[:n].cpu(),
        correct_at={c: out_curve[:n, i].cpu() for i, c in enumerate(curve)} if mode == "fixed" else {},
        halt_agree=float(halt_agree),
        decisions=float(decisions),
        policy_metrics={k: float(v) / max(decisions, 1) for k, v in policy_sums.items()},
        wall_s=wall,
        trajectory=out_traj[:n].cpu() if out_traj is not None else None,
        halt_probs=out_traj_q[:n].cpu() if out_traj_q is not None and has_q else None,
    )
    if verify:
        res.verified = verify_all(task, res.predictions, split.inputs, split.labels)
    return res


def merge_results(parts: list[ExampleResults]) -> ExampleResults:
    """One `ExampleResults` from the results of consecutive shards of a split, in shard order."""

    def cat(name: str) -> torch.Tensor:
        return torch.cat([getattr(p, name) for p in parts])

    decisions = sum(p.decisions for p in parts)
    keys = sorted({k for p in parts for k in p.policy_metrics})
    return ExampleResults(
        predictions=cat("predictions"),
        correct=cat("correct"),
        token_accuracy=cat("token_accuracy"),
        segments=cat("segments"),
        inner_steps=cat("inner_steps"),
        flops=cat("flops"),
        first_correct=cat("first_correct"),
        correct_at={c: torch.cat([p.correct_at[c] for p in parts]) for c in parts[0].correct_at},
        verified=cat("verified") if all(p.verified is not None for p in parts) else None,
        halt_agree=sum(p.halt_agree for p in parts),
        decisions=decisions,
        policy_metrics={
            k: sum(p.policy_metrics.get(k, 0.0) * p.decisions for p in parts) / max(decisions, 1) for k in keys
        },
        wall_s=max(p.wall_s for p in parts),
    )
