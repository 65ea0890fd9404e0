"""The training engine: deep supervision over segments with HRM's ACT carry, any halting policy.

One optimizer step per segment. Each step:

1. `Slots.refill` gives every halted slot the next example of the shuffled stream (fresh carry,
   fresh policy state); running slots keep theirs — the carry persists across optimizer steps;
2. the model runs one segment, the policy decides who halts and returns the segment's total loss;
3. ``loss / batch_size`` is backpropagated (through this segment only: the carry was detached),
   the optimizers step, the EMA follows;
4. metrics are accumulated *on the device* for the rows that halted (as the official code logs
   them); the host reads them only every ``log_every`` steps, when it also checks for a non-finite
   loss and the budgets that need the device (epochs), and hands the window to its sinks (log file,
   TensorBoard, wandb, progress bar, heartbeat: `looped_hrm.training.log`).

Checkpoints (every ``checkpoint_every`` steps and at the end) hold the model, optimizers, EMA,
the example stream, RNG states, counters and the config, but no carry: the examples in flight go
back to the head of the stream and restart, in this run as in a resumed one, so resuming continues
exactly as if the run had not stopped. A finished run's checkpoint is marked so; `fit` on it
returns at once.

Data parallel (``torchrun``, see `looped_hrm.engine.distributed`): ``dist`` names this rank; the
slots hold this rank's share of the global batch, every rank divides its loss by the *global*
batch and the gradients are summed across ranks before the optimizers step, so N ranks follow the
one-process run. Metrics are summed across ranks when logged; rank 0 alone writes the log and the
checkpoint, which holds only global state, so any rank count resumes it.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any, Callable

import torch

from looped_hrm.config import ConfigError, to_dict
from looped_hrm.contracts import HaltingPolicy, ReasoningModel, Split, Task
from looped_hrm.engine.correctness import label_free_verifier, token_accuracy
from looped_hrm.engine.distributed import Dist
from looped_hrm.engine.segment import SegmentRunner, check_compatible
from looped_hrm.engine.slots import DeviceSplit, ExampleQueue, Slots
from looped_hrm.training.checkpoint import checkpoint_path, load_run_checkpoint, save_checkpoint
from looped_hrm.training.config import TrainConfig
from looped_hrm.training.log import TrainLog, truncate_log
from looped_hrm.training.optim import EMA, SignSGD, build_optimizers, lr_at, split_parameters


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite; the message is one line and names the last good checkpoint."""


class Trainer:
    """Trains ``model`` on ``train_split`` under ``policy`` (see the module docstring)."""

    def __init__(
        self,
        model: ReasoningModel,
        policy: HaltingPolicy,
        task: Task,
        train_split: Split,
        cfg: TrainConfig,
        *,
        device: torch.device,
        seed: int,
        workdir: str | os.PathLike | None,
        progress: bool = True,
        quick_eval: Callable[[], dict[str, float | None]] | None = None,
        curve_eval: Callable[[], dict[str, Any]] | None = None,
        dist: Dist | None = None,
        runner: SegmentRunner | None = None,
        logger: Any = None,
        key: str | None = None,
    ) -> None:
        check_compatible(model, policy)
        self.key = key  # the run's identity, written into its checkpoints and checked when resuming
        self.model, self.policy, self.task, self.cfg = model, policy, task, cfg
        self.device = device
        self.dist = dist or Dist.single()
        if cfg.batch_size % self.dist.world:
            raise ConfigError(
                f"train.batch_size {cfg.batch_size} is the global batch: it must be divisible by "
                f"the {self.dist.world} ranks"
            )
        self.workdir = Path(workdir) if workdir is not None else None
        self.progress = progress and cfg.progress and self.dist.is_main
        self.quick_eval = quick_eval
        self.curve_eval = curve_eval  # the learning-curve evaluation, run at cfg.curve_fractions of the budget
        self.curve: list[dict[str, Any]] = []
        # one runner per experiment: run_experiment shares its own with the evaluation
        self.runner = runner or SegmentRunner(
            model,
            policy,
            loss=cfg.loss,
            device=device,
            precision=cfg.precision,
            compile=cfg.compile,
            compile_backend=cfg.compile_backend,
            verify=label_free_verifier(task),
        )
        self.optimizers = build_optimizers(model, cfg, device)
        self.base_lr = {name: opt.defaults["lr"] for name, opt in self.optimizers.items()}
        self.dense_params, puzzle_params = split_parameters(model)
        self.grad_params = [*self.dense_params, *puzzle_params]  # summed across ranks
        self.ema = EMA(self.dense_params, cfg.ema_decay) if cfg.ema else None

        self.num_examples = len(train_split)
        self.data = DeviceSplit.from_split(train_split, device)
        self.queue = ExampleQueue(
            self.num_examples, device, shuffle=True, epochs=cfg.epochs, generator=torch.Generator().manual_seed(seed)
        )
        self.slots = Slots(self.data, self.queue, model, policy, cfg.batch_size, dist=self.dist)
        self.explore_gen = torch.Generator(device=device).manual_seed(seed + 1)
        profile = model.compute_profile()
        self.train_flops_row = float(profile.train_flops)
        self.forward_flops_row = float(profile.forward_flops)

        self.step = 0
        self.done = False
        self.train_time = 0.0
        self.train_cpu_s = 0.0  # CPU seconds of this process while training (wall time misleads on a shared machine)
        self.flops = 0.0
        self.window: dict[str, float] = {}  # the last logged window of training metrics
        self.checkpoint_step: int | None = None  # step of the last checkpoint written
        self.finished_count = torch.zeros(self.num_examples + 1, dtype=torch.int64, device=device)  # this rank's
        self.policy_keys: list[
            str
        ] = []  # the policy's metric names, fixed at the first step (ranks reduce them in order)
        self._reset_accumulators()
        self.logger = logger  # e.g. a WandbLogger: log(scalars, step)
        self.log: TrainLog | None = None  # the sinks of the logged windows, while fitting

    # ------------------------------------------------------------------------------ one step

    def _reset_accumulators(self) -> None:
        zero = lambda: torch.zeros((), dtype=torch.float32, device=self.device)  # noqa: E731
        self.acc: dict[str, torch.Tensor] = {k: zero() for k in ("loss", "halted", "exact", "token", "segments")}
        self.acc_policy: dict[str, torch.Tensor] = {k: zero() for k in self.policy_keys}
        self.acc_steps = 0
        self.acc_rows = 0
        self.bad_step = torch.zeros((), dtype=torch.int64, device=self.device)  # first step with a non-finite loss
        self.bad_value = torch.zeros((), dtype=torch.float32, device=self.device)

    def _set_lr(self) -> None:
        for name, opt in self.optimizers.items():
            lr = lr_at(self.step + 1, self.cfg, self.base_lr[name])  # the step about to be taken, 1-based
            for group in opt.param_groups:
                group["lr"] = lr * group["lr_scale"] if "lr_scale" in group else lr

    def train_step(self) -> bool:
        """One segment of one batch and one optimizer step; False once a finite stream is exhausted."""
        cfg, slots = self.cfg, self.slots
        slots.refill()
        if slots.finished:
            return False
        self._set_lr()
        total = slots.total_rows
        if len(slots) == 0:  # this rank's rows all finished at the end of a finite stream: others go on
            self.dist.all_reduce_grads(self.grad_params)
            self._optimizer_step()
            self.acc_steps += 1
            self.acc_rows += total
            self.step += 1
            return True
        carry, batch, pstate = slots.state()
        st = self.runner(
            carry,
            batch,
            pstate,
            slots.steps,
            training=True,
            max_steps=cfg.max_segments,
            generator=self.explore_gen,
            rows=(slots.row_offset, total) if self.dist.active else None,
        )
        loss = st.loss / cfg.batch_size  # the global batch: the ranks' losses add up to the one-process loss
        loss.backward()
        self.dist.all_reduce_grads(self.grad_params)
        self._optimizer_step()

        halt = st.halt
        value = loss.detach().float()
        bad = ~torch.isfinite(value) & (self.bad_step == 0)
        self.bad_step = torch.where(bad, self.step + 1, self.bad_step)
        self.bad_value = torch.where(bad, value, self.bad_value)
        a = self.acc
        a["loss"] += torch.nan_to_num(value)
        a["halted"] += halt.sum()
        a["exact"] += (st.correct & halt).sum()
        a["token"] += (token_accuracy(st.predictions, batch.labels) * halt).sum()
        a["segments"] += (st.steps * halt).sum()
        if not self.policy_keys:
            self.policy_keys = sorted(st.decision.metrics)
        for name, metric in st.decision.metrics.items():
            self.acc_policy[name] = self.acc_policy.get(name, 0) + metric.detach().float()
        self.acc_steps += 1
        self.acc_rows += total
        self.finished_count.index_add_(
            0, torch.where(halt, slots.index, self.num_examples), torch.ones_like(slots.index)
        )
        self.flops += total * (self.train_flops_row + (self.forward_flops_row if self.policy.needs_lookahead else 0.0))

        slots.advance(st, halt)
        self.step += 1
        return True

    def _optimizer_step(self) -> None:
        """Clip, step (sign-SGD on the puzzle rows of the whole global batch, every rank's), EMA."""
        cfg, slots = self.cfg, self.slots
        if cfg.grad_clip is not None:
            torch.nn.utils.clip_grad_norm_(self.dense_params, cfg.grad_clip)
        for opt in self.optimizers.values():
            if isinstance(opt, SignSGD):  # the puzzle-embedding rows of this batch
                opt.step(rows=self.dist.gather_rows(slots.state()[1].puzzle_ids, slots.sizes))
            else:
                opt.step()
            opt.zero_grad(set_to_none=True)
        if self.ema is not None:
            self.ema.update()

    # ------------------------------------------------------------------------------- the loop

    def fit(self) -> dict[str, float | None]:
        """Train until the budget is spent (resuming from ``workdir`` if it holds a checkpoint)."""
        cfg = self.cfg
        self._resume()
        if self.done:
            return self.summary()
        log = self.log = TrainLog(
            self.workdir,
            total_steps=cfg.steps,
            is_main=self.dist.is_main,
            tensorboard=cfg.tensorboard,
            logger=self.logger,
            progress=self.progress,
            initial_step=self.step,
        )
        self._clock = time.perf_counter()
        self._cpu_clock = time.process_time()
        try:
            while True:
                if cfg.steps is not None and self.step >= cfg.steps:
                    break
                if cfg.time_budget_s is not None and self.dist.agree(self._elapsed() >= cfg.time_budget_s):
                    break
                if cfg.flops_budget is not None and self.flops >= cfg.flops_budget:
                    break
                if not self.train_step():
                    break
                log.step_done()
                log.heartbeat(self.step, self.window)
                if self.step % cfg.log_every == 0:
                    self._log()
                if cfg.checkpoint_every is not None and self.step % cfg.checkpoint_every == 0:
                    self._checkpoint()
                if cfg.eval_interval is not None and self.quick_eval is not None and self.step % cfg.eval_interval == 0:
                    self._log(self._run_quick_eval())
                self._maybe_curve_point()
            if self.device.type == "cuda":
                torch.cuda.synchronize(self.device)
            self.done = True
            self._checkpoint()
        except KeyboardInterrupt:  # Ctrl-C: say what is kept (the command prints it in one line)
            raise KeyboardInterrupt(f"training stopped at step {self.step}; {self._kept()}") from None
        finally:
            log.close()
            self.log = None
        return self.summary()

    def restore(self) -> dict[str, float | None]:
        """Load the checkpoint in ``workdir`` (if any) without training: for evaluating a partial run."""
        self._resume(truncate=False)  # the run may still be training: leave its log alone
        return self.summary()

    def _elapsed(self) -> float:
        """Training seconds so far, this session included (checkpoint writes count; quick evaluations too)."""
        now, cpu = time.perf_counter(), time.process_time()
        self.train_time += now - self._clock
        self.train_cpu_s += cpu - self._cpu_clock
        self._clock, self._cpu_clock = now, cpu
        return self.train_time

    def progress_fraction(self) -> float:
        """How much of the budget is spent: the largest fraction over the budgets that are set (the
        run stops at the first one reached). Epoch budgets are not tracked here (they need a sync)."""
        cfg = self.cfg
        done = [
            self.step / cfg.steps if cfg.steps else 0.0,
            self.flops / cfg.flops_budget if cfg.flops_budget else 0.0,
            self.train_time / cfg.time_budget_s if cfg.time_budget_s else 0.0,
        ]
        return max(done)

    def _maybe_curve_point(self) -> None:
        """Evaluate the learning curve when the budget crosses the next of ``cfg.curve_fractions``
        (below 1: the final evaluation is the last point). The evaluation's own time is not
        training time, so a time budget is unaffected by it."""
        if self.curve_eval is None:
            return
        if self.cfg.time_budget_s is not None:
            self._elapsed()
        due = [
            f
            for f in self.cfg.curve_fractions
            if f < 1 and f <= self.progress_fraction() and all(p["fraction"] != f for p in self.curve)
        ]
        if not due:
            return
        self._elapsed()
        point = {"fraction": max(due), "step": self.step, "train_flops": self.flops, "train_wall_s": self.train_time}
        point.update(self._run_curve_eval())
        self.curve.extend({**point, "fraction": f} for f in sorted(due))  # a coarse budget may cross two at once
        self._clock, self._cpu_clock = time.perf_counter(), time.process_time()  # evaluation is not training time

    def _run_curve_eval(self) -> dict[str, Any]:
        assert self.curve_eval is not None
        if self.ema is not None:
            with self.ema.swapped_in():
                return self.curve_eval()
        return self.curve_eval()

    def _run_quick_eval(self) -> dict[str, float | None]:
        assert self.quick_eval is not None
        if self.ema is not None:
            with self.ema.swapped_in():
                return self.quick_eval()
        return self.quick_eval()

    def _log(self, extra: dict[str, float | None] | None = None) -> None:
        """The only routine host synchronisation: read the accumulators, check for divergence."""
        if self.acc_steps == 0 and not extra:
            return
        if self.dist.active:  # the first bad step of any rank (0: none)
            first = torch.where(self.bad_step > 0, self.bad_step, torch.iinfo(torch.int64).max)
            first = self.dist.all_reduce_(first.clone(), "min")
            self.bad_step = torch.where(first == torch.iinfo(torch.int64).max, 0, first)
        if int(self.bad_step.item()):
            self._diverged()
        window: dict[str, float] = {}
        if self.acc_steps:
            stacked = torch.stack([*self.acc.values(), *(self.acc_policy[k] for k in self.acc_policy)])
            values = self.dist.all_reduce_(stacked).tolist()  # every rank's sums: the global batch's
            sums = dict(zip([*self.acc, *(f"policy_{k}" for k in self.acc_policy)], values))
            halted = max(sums["halted"], 1.0)
            window = {
                "loss": sums["loss"] / self.acc_steps,
                "exact_accuracy": sums["exact"] / halted,
                "token_accuracy": sums["token"] / halted,
                "mean_segments": sums["segments"] / halted,
                "halted": sums["halted"],
            }
            window.update({k: v / self.acc_rows for k, v in sums.items() if k.startswith("policy_")})
            self.window = window
        self._reset_accumulators()
        self.queue.sync()  # trims the consumed head of the example stream
        record = {
            "step": self.step,
            "lr": lr_at(self.step, self.cfg, self.base_lr["dense"]),
            **window,
            **{f"eval/{k}": v for k, v in (extra or {}).items()},
        }
        if self.log is not None:
            self.log.write(record, self.window, window.get("halted", 0.0))

    def _kept(self, good: str = "") -> str:
        """What survives a stop: the last checkpoint, or none."""
        if self.checkpoint_step is not None and self.workdir is not None:
            return f"last {good}checkpoint kept: {checkpoint_path(self.workdir)} (step {self.checkpoint_step})"
        return "no checkpoint was written before it"

    def _diverged(self) -> None:
        step, value = int(self.bad_step.item()), float(self.bad_value.item())
        raise TrainingDiverged(f"training diverged: loss is {value} at step {step}; {self._kept('good ')}")

    # --------------------------------------------------------------------------- checkpoints

    def state_dict(self) -> dict[str, Any]:
        rng = {"torch": torch.get_rng_state(), "explore": self.explore_gen.get_state()}
        if self.device.type == "cuda":
            rng["cuda"] = torch.cuda.get_rng_state(self.device)
        return {
            "model": self.model.state_dict(),
            "optimizers": {name: opt.state_dict() for name, opt in self.optimizers.items()},
            "ema": self.ema.state_dict() if self.ema is not None else None,
            "queue": self.queue.state_dict(),
            "rng": rng,
            "step": self.step,
            "done": self.done,
            "train_time": self.train_time,
            "train_cpu_s": self.train_cpu_s,
            "flops": self.flops,
            "window": dict(self.window),
            "finished_count": self._finished_counts().cpu(),
            "curve": [dict(p) for p in self.curve],
            "config": to_dict(self.cfg),
            "key": self.key,
        }

    def _checkpoint(self) -> None:
        self._log()  # flushes the metric window and stops here if the loss diverged
        self.slots.requeue_in_flight()
        self._elapsed()
        if self.workdir is not None:
            state = self.state_dict()  # on every rank: it sums the ranks' counts
            if self.dist.is_main:
                save_checkpoint(state, checkpoint_path(self.workdir))
            self.checkpoint_step = self.step

    def _resume(self, truncate: bool = True) -> None:
        if self.workdir is None or not checkpoint_path(self.workdir).exists():
            return
        state = load_run_checkpoint(
            checkpoint_path(self.workdir),
            self.model,
            key=self.key,
            train_config=to_dict(self.cfg),
            map_location=self.device,
        )
        for name, opt in self.optimizers.items():
            opt.load_state_dict(state["optimizers"][name])
        if self.ema is not None:
            self.ema.load_state_dict(state["ema"])
        self.queue.load_state_dict(state["queue"])
        torch.set_rng_state(state["rng"]["torch"].cpu())
        self.explore_gen.set_state(state["rng"]["explore"].cpu())
        if "cuda" in state["rng"] and self.device.type == "cuda":
            torch.cuda.set_rng_state(state["rng"]["cuda"].cpu(), self.device)
        self.step, self.train_time, self.flops = int(state["step"]), float(state["train_time"]), float(state["flops"])
        self.train_cpu_s = float(state.get("train_cpu_s", 0.0))
        self.window = dict(state["window"])
        self.checkpoint_step = self.step
        counts = state["finished_count"].to(self.device)
        self.finished_count = counts if self.dist.is_main else torch.zeros_like(counts)  # ranks' counts are summed
        self.curve = [dict(p) for p in state.get("curve", [])]
        self.done = bool(state["done"]) and self._budget_spent()  # a raised budget continues a finished run
        if self.dist.is_main and truncate:
            truncate_log(self.workdir, self.step)

    def _budget_spent(self) -> bool:
        cfg = self.cfg
        if cfg.steps is not None and self.step >= cfg.steps:
            return True
        if cfg.time_budget_s is not None and self.train_time >= cfg.time_budget_s:
            return True
        if cfg.flops_budget is not None and self.flops >= cfg.flops_budget:
            return True
        return cfg.epochs is not None and self.queue.epochs_enqueued >= cfg.epochs and self.queue.remaining() == 0

    # ------------------------------------------------------------------------------- summary

    def _finished_counts(self) -> torch.Tensor:
        """``[N + 1]`` halted-example counts summed over ranks (the last row absorbs non-halted rows)."""
        return self.dist.all_reduce_(self.finished_count.clone())

    def examples_seen(self) -> torch.Tensor:
        """``[N]`` how many times each training example ran until it halted (all ranks)."""
        return self._finished_counts()[: self.num_examples].cpu()

    def summary(self) -> dict[str, float | None]:
        finished = float(self.examples_seen().sum())
        out: dict[str, float | None] = {
            "train/steps": self.step,
            "train/examples": finished,
            "train/epochs": finished / self.num_examples,
            "train/wall_s": self.train_time,
            "train/cpu_s": self.train_cpu_s,
            "train/examples_per_s": finished / self.train_time if self.train_time > 0 else None,
            "train/flops": self.flops,
        }
        out.update({f"train/{k}": v for k, v in self.window.items()})
        return out
