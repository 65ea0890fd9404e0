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
from looped_hrm.engine.correctness import exact_correct, label_free_verifier, token_accuracy
from looped_hrm.engine.distributed import Dist
from looped_hrm.engine.segment import SegmentRunner, SegmentStep
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
    every_step: bool = False,
    count_decisions: bool = False,
) -> ExampleResults:
    """Run every example of ``split`` until the policy halts it (``mode="policy"``, capped at
    ``max_segments``) or for exactly ``max_segments`` segments (``mode="fixed"``).

    ``progress``: a live bar (examples done, exact accuracy so far, mean segments, examples/s, ETA);
    it reads the device once per segment, so it is off unless a person is watching.

    ``trajectory`` also keeps every example's prediction and halting probability after each segment
    it ran (``ExampleResults.trajectory`` / ``halt_probs``; for the sample logs; not merged across ranks).

    ``every_step`` (fixed mode): every example's exactness after every step up to ``max_segments``
    segments — its inner steps when the model reports a prediction after each
    (``SegmentOutput.inner_preds``: DT iterations, TRM cycles, looped-transformer loops), else its
    segments (``ExampleResults.correct_steps``). One bit per example and step is all that is kept,
    so memory does not grow with the model's state however many steps run.

    ``count_decisions`` (fixed mode): also count the policy's halting decisions, as ``policy`` mode
    does — for a policy that never stops a row before the cap, whose policy pass this pass then is."""
    if dist is not None and dist.active:
        lo, hi = dist.shard(len(split))
        part = None
        if hi > lo:
            part = evaluate(
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
                every_step=every_step,
                count_decisions=count_decisions,
            )
        return merge_results([r for r in dist.all_gather_object(part) if r is not None])
    if runner is None:
        verifier = label_free_verifier(task)
        runner = SegmentRunner(model, policy, loss=loss, device=device, precision=precision, verify=verifier)
    curve = sorted({c for c in curve if c <= max_segments})
    segment_pass = _Pass(
        model,
        policy,
        split,
        mode,
        max_segments,
        curve,
        trajectory,
        min(batch_size, len(split)),
        device,
        every_step=every_step and mode == "fixed",
        count_decisions=count_decisions or mode == "policy",
    )
    was_training = model.training
    model.eval()
    try:
        res = segment_pass.run(runner, seed, progress)
    finally:
        model.train(was_training)
    if verify:
        res.verified = verify_all(task, res.predictions, split.inputs, split.labels)
    return res


class _Outputs:
    """Each example's final values, written on the device when it finishes: one ``[N + 1, ...]``
    buffer per name, allocated at its first write with the values' shape and dtype; row ``N``
    absorbs the rows that did not finish this segment."""

    def __init__(self, n: int, device: torch.device) -> None:
        self.n, self.device = n, device
        self.buffers: dict[str, torch.Tensor] = {}

    def write(self, dest: torch.Tensor, values: dict[str, torch.Tensor]) -> None:
        for name, value in values.items():
            buffer = self.buffers.get(name)
            if buffer is None:
                shape = (self.n + 1, *value.shape[1:])
                buffer = self.buffers[name] = torch.zeros(shape, dtype=value.dtype, device=self.device)
            buffer.index_copy_(0, dest, value)

    def host(self) -> dict[str, torch.Tensor]:
        """The ``N`` rows of every buffer, copied to the host (once, at the end of the pass)."""
        return {name: buffer[: self.n].cpu() for name, buffer in self.buffers.items()}


class _Pass:
    """One ordered pass over a split through `Slots` (see the module docstring). Each slot carries its
    example's running totals (`Slots` extras); when the example finishes they go to `_Outputs`."""

    def __init__(
        self,
        model: ReasoningModel,
        policy: HaltingPolicy,
        split: Split,
        mode: Mode,
        max_segments: int,
        curve: list[int],
        trajectory: bool,
        batch_size: int,
        device: torch.device,
        every_step: bool = False,
        count_decisions: bool = False,
    ) -> None:
        self.model, self.policy, self.split, self.mode = model, policy, split, mode
        self.count_decisions = count_decisions  # count the policy's halting decisions (its own metrics)
        self.max_segments, self.curve, self.trajectory, self.device = max_segments, curve, trajectory, device
        self.curve_t = torch.tensor(curve, dtype=torch.int64, device=device)
        self.profile = model.compute_profile()
        self.outputs = _Outputs(len(split), device)
        self.halt_agree = torch.zeros((), device=device)  # decisions where "stop" == "right now"
        self.decisions = 0
        self.policy_sums: dict[str, torch.Tensor] = {}
        self.has_q = False  # the model has a halting head (trajectory's halt_probs)
        self.slots = self._slots(batch_size)
        self.every_step = every_step  # keep each example's exactness after every step (`_record_steps`)
        self.step_correct: torch.Tensor | None = None  # [N + 1, max_segments * per_segment] bool
        self.per_segment = 1

    def _slots(self, batch_size: int) -> Slots:
        seq_len = self.split.inputs.shape[1]
        extras = {
            "inner": ((), torch.float32),
            "flops": ((), torch.float32),
            "first_correct": ((), torch.int64),
            "correct_at": ((len(self.curve),), torch.bool),
        }
        if self.trajectory:
            extras["traj"] = ((self.max_segments, seq_len), torch.int16)
            extras["traj_q"] = ((self.max_segments,), torch.float32)
        queue = ExampleQueue(len(self.split), self.device, shuffle=False, epochs=1)
        data = DeviceSplit.from_split(self.split, self.device)
        return Slots(data, queue, self.model, self.policy, batch_size, extras=extras)

    def run(self, runner: SegmentRunner, seed: int, progress: bool) -> ExampleResults:
        slots, generator = self.slots, torch.Generator(device=self.device).manual_seed(seed)
        start = time.perf_counter()
        bar = _Bar(len(self.split), self.mode, progress)
        try:
            while True:
                slots.refill()
                if slots.finished:
                    break
                carry, batch, pstate = slots.state()
                st = runner(
                    carry,
                    batch,
                    pstate,
                    slots.steps,
                    training=False,
                    max_steps=self.max_segments,
                    generator=generator,
                )
                halt = st.halt if self.mode == "policy" else st.steps >= self.max_segments
                self._accumulate(slots, st, halt)
                if self.every_step:
                    self._record_steps(slots, st)
                self.outputs.write(torch.where(halt, slots.index, len(self.split)), self._finals(slots, st))
                bar.update(st, halt)
                slots.advance(st, halt)
        finally:
            bar.close()
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        return self._results(time.perf_counter() - start)

    def _accumulate(self, slots: Slots, st: SegmentStep, halt: torch.Tensor) -> None:
        """Add this segment to each slot's running totals, and count the policy's decisions."""
        out, ex = st.output, slots.extras
        inner = (
            out.inner_steps.float()
            if out.inner_steps is not None
            else torch.full_like(ex["inner"], float(self.profile.inner_steps))
        )
        flops = (
            out.flops.float()
            if out.flops is not None
            else torch.full_like(ex["flops"], float(self.profile.forward_flops))
        )
        ex["inner"] = ex["inner"] + inner
        ex["flops"] = ex["flops"] + flops
        ex["first_correct"] = torch.where((ex["first_correct"] == 0) & st.correct, st.steps, ex["first_correct"])
        if len(self.curve):
            at = st.steps.unsqueeze(1) == self.curve_t.unsqueeze(0)
            ex["correct_at"] = torch.where(at, st.correct.unsqueeze(1), ex["correct_at"])
        if self.count_decisions:
            self.halt_agree += (st.decision.halt.to(torch.bool) == st.correct).sum()
            self.decisions += len(halt)
            for name, value in st.decision.metrics.items():
                self.policy_sums[name] = self.policy_sums.get(name, 0) + value.detach().float()
        if self.trajectory:
            rows, at = torch.arange(len(halt), device=self.device), (st.steps - 1).clamp(max=self.max_segments - 1)
            ex["traj"][rows, at] = st.predictions.to(torch.int16)
            if out.q_halt is not None:
                self.has_q = True
                ex["traj_q"][rows, at] = torch.sigmoid(out.q_halt.float())

    def _record_steps(self, slots: Slots, st: SegmentStep) -> None:
        """Each row's exactness after every step of this segment, written straight into its
        example's row: after each inner step when the model reports the predictions, else once."""
        preds = st.output.inner_preds
        if self.step_correct is None:
            self.per_segment = preds.shape[1] if preds is not None else 1
            shape = (len(self.split) + 1, self.max_segments * self.per_segment)
            self.step_correct = torch.zeros(shape, dtype=torch.bool, device=self.device)
        k = self.per_segment
        if preds is not None and preds.shape[1] == k:
            now = exact_correct(preds, slots.state()[1].labels.unsqueeze(1))  # [B, K]
        else:
            now = st.correct.unsqueeze(1).expand(-1, k)
        cols = (st.steps - 1).unsqueeze(1) * k + torch.arange(k, device=self.device)
        rows = torch.where(slots.index >= 0, slots.index, len(self.split)).unsqueeze(1)
        self.step_correct[rows, cols] = now

    def _finals(self, slots: Slots, st: SegmentStep) -> dict[str, torch.Tensor]:
        """What `ExampleResults` keeps of each example, as it stands after this segment (written for
        the rows that finish)."""
        ex = slots.extras
        finals = {
            "predictions": st.predictions,
            "correct": st.correct,
            "token_accuracy": token_accuracy(st.predictions, slots.state()[1].labels),
            "segments": st.steps,
            "inner_steps": ex["inner"],
            "flops": ex["flops"],
            "first_correct": ex["first_correct"],
            "correct_at": ex["correct_at"],
        }
        if self.trajectory:
            finals.update(trajectory=ex["traj"], halt_probs=ex["traj_q"])
        return finals

    def _results(self, wall: float) -> ExampleResults:
        host = self.outputs.host()
        correct_at = host.pop("correct_at")
        if not self.has_q:
            host.pop("halt_probs", None)
        return ExampleResults(
            **host,
            correct_at={c: correct_at[:, i] for i, c in enumerate(self.curve)} if self.mode == "fixed" else {},
            halt_agree=float(self.halt_agree),
            decisions=float(self.decisions),
            policy_metrics={k: float(v) / max(self.decisions, 1) for k, v in self.policy_sums.items()},
            wall_s=wall,
            correct_steps=self.step_correct[: len(self.split)].cpu() if self.step_correct is not None else None,
            steps_per_segment=self.per_segment,
        )


class _Bar:
    """The live progress bar of a pass (reads the device once per segment, so only when shown)."""

    def __init__(self, n: int, mode: str, show: bool) -> None:
        self.show = show
        self.bar = tqdm(total=n, desc=f"eval ({mode})", unit="ex", disable=not show, dynamic_ncols=True, leave=False)
        self.right = self.segments = 0

    def update(self, st: SegmentStep, halt: torch.Tensor) -> None:
        if not self.show:
            return
        self.right += int((st.correct & halt).sum())
        self.segments += int((st.steps * halt).sum())
        done = int(halt.sum())
        seen = max(self.bar.n + done, 1)
        self.bar.set_postfix(exact=f"{self.right / seen:.3f}", segs=f"{self.segments / seen:.2f}", refresh=False)
        self.bar.update(done)

    def close(self) -> None:
        self.bar.close()


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
        correct_steps=cat("correct_steps") if all(p.correct_steps is not None for p in parts) else None,
        steps_per_segment=parts[0].steps_per_segment,
        verified=cat("verified") if all(p.verified is not None for p in parts) else None,
        halt_agree=sum(p.halt_agree for p in parts),
        decisions=decisions,
        policy_metrics={
            k: sum(p.policy_metrics.get(k, 0.0) * p.decisions for p in parts) / max(decisions, 1) for k in keys
        },
        wall_s=max(p.wall_s for p in parts),
    )
