"""`run_experiment`: the one call the benchmark runner makes per (task, model, policy, seed).

It seeds everything, builds the splits, trains (resuming from ``workdir`` when it holds a
checkpoint), then evaluates twice — to the policy's decision and to a fixed number of segments —
and returns one flat, JSON-able dict:

* ``train/...``  — steps, epochs, examples, wall time, throughput, FLOPs, the last logged window
  (loss, exact/token accuracy and mean segments of the examples that halted, policy metrics);
* ``policy/...`` — the policy-halted evaluation (see `looped_hrm.evaluation.catalogue` for every key,
  including ``bucket/<name>/...`` per difficulty bucket and the halting-quality metrics);
* ``<pass>/task/...`` — the task's own metrics (its optional ``extra_metrics`` hook: ARC pass@k,
  proof statistics) for each pass;
* ``fixed/...``  — the fixed-segments evaluation, with ``exact_accuracy@S`` along the way
  (inference-time scaling when ``fixed_segments`` exceeds the training maximum);
* run facts: ``seed``, ``device``, ``trainable_params``, ``forward_flops_per_segment``, the segment
  caps, ``policy_uses_labels`` (an oracle is an upper bound, never a result), peak memory;
* ``learning_curve`` — a list, not a metric: the test split evaluated (policy-halted) at
  ``train.curve_fractions`` of the budget and at the end — step, training FLOPs, accuracy, compute,
  and each example's correctness (bit-packed) for intervals;
* ``baseline:<name>/...`` — the trivial baselines (`looped_hrm.evaluation.baselines`: copy the
  input, the majority label, the task's own rules) scored on the same test rows, like a pass;
* ``data/...`` — the test split: rows evaluated, rows ``eval.limit`` left out, puzzles the task could
  not hold (its optional ``left_out``), distinct items, and rows that are training items up to the
  task's symmetries (`looped_hrm.overlap`);
* ``per_example`` — a nested dict, not a metric: every test example's outcome in both passes and
  under each baseline, and which rows are one item and which are training items, packed by
  `looped_hrm.evaluation.per_example` (the runner stores it beside the metrics; the tables compute
  their confidence intervals and paired tests from it);
* ``extrapolate/<key>=<value>/...`` — the same two passes, trivial baselines and ``data/`` counts on
  each test split of ``eval.extrapolate`` (``test_tasks``: the task at other sizes or difficulties),
  and ``extrapolation`` — a dict, not a metric: their per-example outcomes, packed as ``per_example``.
"""

from __future__ import annotations

import contextlib
import functools
import os
import random
import resource
import sys
from dataclasses import replace
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import torch

from looped_hrm.contracts import HaltingPolicy, ReasoningModel, Split, Task
from looped_hrm.engine.correctness import label_free_verifier
from looped_hrm.engine.distributed import Dist
from looped_hrm.engine.segment import SegmentRunner
from looped_hrm.evaluation import catalogue, per_example
from looped_hrm.evaluation.baselines import BaselineResult, baseline_metrics, score_baselines
from looped_hrm.evaluation.config import EvalConfig
from looped_hrm.evaluation.evaluate import Mode, evaluate
from looped_hrm.evaluation.metrics import ExampleResults, summarize
from looped_hrm.overlap import Overlap, cached_overlap
from looped_hrm.training.checkpoint import checkpoint_path
from looped_hrm.training.config import TrainConfig
from looped_hrm.training.trainer import Trainer

TIMING_KEYS = ("wall_s", "cpu_s", "examples_per_s", "peak_memory_mb")
"""Metric-name endings that measure the machine rather than the model (excluded from determinism checks)."""


def resolve_device(device: str | torch.device) -> torch.device:
    """``"auto"`` -> CUDA when available, else CPU; anything else as given."""
    if isinstance(device, str) and device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def _peak_memory_mb(device: torch.device) -> tuple[float, str]:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20, "cuda_max_allocated"
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return (rss / 2**20 if sys.platform == "darwin" else rss / 2**10), "process_max_rss"


def _limit(split: Split, limit: int | None) -> Split:
    return split if limit is None or limit >= len(split) else split.subset(slice(0, limit))


def run_experiment(
    task: Task,
    make_model: Callable[[], ReasoningModel],
    policy: HaltingPolicy,
    train_cfg: TrainConfig,
    eval_cfg: EvalConfig,
    *,
    seed: int,
    device: str | torch.device = "auto",
    workdir: str | os.PathLike | None,
    progress: bool = True,
    dist: Dist | None = None,
    train: bool = True,
    on_samples: Callable[[str, ExampleResults, Split], None] | None = None,
    logger: Any = None,
    trained_on: Split | None = None,
    count_overlap: bool = True,
    key: str | None = None,
    test_tasks: Mapping[str, Task] | None = None,
) -> dict:
    """Train the model that ``make_model()`` builds on ``task`` under ``policy`` and evaluate it; see the
    module docstring.

    ``make_model`` is called after seeding, so the initial weights depend on ``seed`` alone. ``workdir``
    holds the checkpoint and the training log; a second call with the same workdir resumes (or, if
    training finished, only evaluates). With ``dist`` (``torchrun``), every rank calls this with the
    same arguments: training and both evaluations are data parallel and every rank returns the same
    metrics. ``train=False`` only evaluates: the weights of ``workdir``'s checkpoint if there is one
    (a partial run), else the model as built (weights loaded by ``make_model``). ``key`` names the run
    in its checkpoints: resuming refuses a checkpoint another run wrote
    (`looped_hrm.training.checkpoint.load_run_checkpoint`). ``test_tasks`` (label -> task) are
    evaluated beside ``task``'s own test split, on their test splits (`looped_hrm.resolve.variant_tasks`),
    each measured against the same training split.

    ``trained_on``: the split the weights were trained on when it is not ``task.build("train")`` (an
    evaluation on a user's test file): the restored trainer, the trivial baselines and the count of
    test rows that are training items use it, and ``task``'s own training split is not built. Test
    rows are not counted at all
    with ``count_overlap=False`` (weights trained on data this suite cannot see: then, unless this
    run trains or restores a checkpoint of its own, no training data is built at all, and the trivial
    baselines that learn from training labels are not scored).
    """
    dist = dist or Dist.single()
    device = resolve_device(device)
    seed_everything(seed)
    model = make_model()
    model.to(device)
    dist.broadcast_module_(model)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)

    whole_test = task.build(eval_cfg.split)
    test_split = _limit(whole_test, eval_cfg.limit)
    ev = _Evaluation(model, policy, task, train_cfg, eval_cfg, device=device, seed=seed, dist=dist, progress=progress)
    # Evaluating weights that come from outside (train.init_from: an official checkpoint), with no
    # checkpoint of ours to restore, needs no training data (a million puzzles for sudoku paper): none is
    # built and no trainer made.
    trainer: Trainer | None = None
    metrics: dict[str, Any] = {}
    own_weights = train or (workdir is not None and checkpoint_path(workdir).exists())
    # the split the weights were trained on: on a user's test file, ``task`` would build another one
    # (held out against that file: with a file of training puzzles, too few left, blamed on train_file)
    train_split: Split | None = trained_on
    if trained_on is None:
        train_split = task.build("train") if own_weights or count_overlap else None
    if own_weights:
        assert train_split is not None
        trainer = Trainer(
            model,
            policy,
            task,
            train_split,
            train_cfg,
            device=device,
            seed=seed,
            workdir=workdir,
            progress=progress,
            quick_eval=functools.partial(ev.quick, _limit(test_split, train_cfg.eval_examples)),
            curve_eval=functools.partial(ev.curve_point, test_split) if train_cfg.curve_fractions else None,
            dist=dist,
            runner=ev.runner,
            logger=logger,
            key=key,
        )
        metrics = trainer.fit() if train else trainer.restore()
    metrics.update(_run_facts(model, policy, train_cfg, ev, seed=seed, device=device))
    counted = train_split if count_overlap else None
    overlap, baselines = _test_data(task, whole_test, test_split, train_split, counted, metrics, verify=eval_cfg.verify)
    variants = {}
    for label, variant in (test_tasks or {}).items():
        whole = variant.build(eval_cfg.split)
        split = _limit(whole, eval_cfg.limit)
        found = _test_data(variant, whole, split, train_split, counted, metrics, verify=eval_cfg.verify, variant=label)
        variants[label] = (variant, split, *found)

    logged = "policy" if eval_cfg.policy else "fixed"  # the pass whose per-example trajectory on_samples gets
    ema = trainer.ema if trainer is not None and eval_cfg.use_ema else None
    with ema.swapped_in() if ema is not None else contextlib.nullcontext():
        passes = ev.final_passes(test_split, metrics, trajectory=logged if on_samples is not None else None)
        variant_passes = {
            label: ev.final_passes(split, metrics, trajectory=None, on=variant, variant=label)
            for label, (variant, split, _, _) in variants.items()
        }
    if on_samples is not None:
        on_samples(logged, passes[logged], test_split)
    metrics["peak_memory_mb"], metrics["peak_memory_kind"] = _peak_memory_mb(device)
    metrics["per_example"] = per_example.pack(
        passes, bucket=test_split.bucket, bucket_names=task.bucket_names, overlap=overlap, baselines=baselines
    )
    if variants:
        metrics["extrapolation"] = {
            label: per_example.pack(
                variant_passes[label],
                bucket=split.bucket,
                bucket_names=variant.bucket_names,
                overlap=variant_overlap,
                baselines=variant_baselines,
            )
            for label, (variant, split, variant_overlap, variant_baselines) in variants.items()
        }
    if train_cfg.curve_fractions and trainer is not None:
        final = passes.get("policy") or passes["fixed"]
        end = {"fraction": 1.0, "step": trainer.step, "train_flops": trainer.flops, "train_wall_s": trainer.train_time}
        metrics["learning_curve"] = trainer.curve + [{**end, **curve_point(final)}]
    if logger is not None:  # the final evaluation, as the run's summary
        logger.summary({k: v for k, v in metrics.items() if not isinstance(v, (dict, list))})
    return metrics


def _test_data(
    task: Task,
    whole: Split,
    test: Split,
    train: Split | None,
    counted: Split | None,
    metrics: dict[str, Any],
    *,
    verify: bool,
    variant: str | None = None,
) -> tuple[Overlap | None, dict[str, BaselineResult]]:
    """What a test split holds (``data/``) and the trivial baselines' scores on it (``baseline:<name>``),
    added to ``metrics`` (under ``extrapolate/<variant>/`` for an extrapolation test split): ``test`` is
    ``whole`` after ``eval.limit``; ``counted`` the training split its rows are counted against (None:
    not counted), ``train`` the one the baselines learn from (None: only those that need none)."""
    rows = {"test_rows": len(test), "removed_by_limit": len(whole) - len(test)}
    metrics.update({catalogue.key(f"data/{name}", variant=variant): value for name, value in rows.items()})
    _left_out(task, metrics, variant)
    overlap = _overlap(task, counted, test, metrics, variant) if counted is not None else None
    baselines = score_baselines(task, train, test, verify=verify)
    metrics.update(baseline_metrics(baselines, test.bucket, task.bucket_names, variant=variant))
    return overlap, baselines


def _left_out(task: Task, metrics: dict[str, Any], variant: str | None = None) -> None:
    """``data/left_out`` of a task that can leave test puzzles out (its optional ``left_out``: ARC tasks
    larger than the canvas), with a warning on stderr when it did: the score is over the others only."""
    left_out = getattr(task, "left_out", None)
    if left_out is None:
        return
    metrics[catalogue.key("data/left_out", variant=variant)] = int(left_out)
    if left_out:
        where = f" (test split {variant})" if variant is not None else ""
        print(
            f"looped_hrm: warning: task {getattr(task, 'name', '?')!r}{where}: {left_out} test puzzle(s) left out, the "
            "task cannot hold them (an ARC grid larger than the canvas); the record counts them: data/left_out",
            file=sys.stderr,
        )


def _overlap(task: Task, train: Split, test: Split, metrics: dict[str, Any], variant: str | None = None) -> Overlap:
    """The test rows' items measured against ``train`` (``data/test_distinct``, ``data/test_in_train``),
    with a warning on stderr when some are training items up to the task's symmetries: that part of the
    score measures memory."""
    overlap = cached_overlap(task, train, test)
    metrics.update(
        {
            catalogue.key("data/test_distinct", variant=variant): overlap.distinct,
            catalogue.key("data/test_in_train", variant=variant): overlap.in_train,
        }
    )
    if overlap.in_train:
        where = f" (test split {variant})" if variant is not None else ""
        print(
            f"looped_hrm: warning: task {getattr(task, 'name', '?')!r}{where}: {overlap.in_train} of {len(test)} test rows "
            "are training items up to the task's symmetries (the record counts them: data/test_in_train)",
            file=sys.stderr,
        )
    return overlap


def curve_point(res: ExampleResults) -> dict[str, Any]:
    """A learning-curve point's measurements: the `catalogue.CURVE_METRICS` of a pass and each example's
    correctness (bit-packed, for intervals)."""
    exact = catalogue.EXACT_ACCURACY
    return {
        **catalogue.means(res, catalogue.CURVE_METRICS),
        catalogue.array_of(exact.name): per_example.pack_array(res, exact),
    }


def _run_facts(
    model: ReasoningModel,
    policy: HaltingPolicy,
    train_cfg: TrainConfig,
    ev: _Evaluation,
    *,
    seed: int,
    device: torch.device,
) -> dict[str, Any]:
    profile = model.compute_profile()
    return {
        "seed": seed,
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else device.type,
        "trainable_params": profile.trainable_params,
        "forward_flops_per_segment": profile.forward_flops,
        "train_max_segments": train_cfg.max_segments,
        "eval_max_segments": ev.eval_max,
        "fixed_segments": ev.fixed_max,
        "policy": policy.name,
        "policy_uses_labels": bool(policy.uses_labels),
    }


class _Evaluation:
    """The evaluations of one experiment: the quick looks and learning-curve points during training, and
    the final passes (fixed, then policy-halted) with their metrics. All share the experiment's
    `SegmentRunner` (one compiled segment for training and evaluation)."""

    def __init__(
        self,
        model: ReasoningModel,
        policy: HaltingPolicy,
        task: Task,
        train_cfg: TrainConfig,
        eval_cfg: EvalConfig,
        *,
        device: torch.device,
        seed: int,
        dist: Dist,
        progress: bool,
    ) -> None:
        self.model, self.policy, self.task, self.train_cfg, self.eval_cfg = model, policy, task, train_cfg, eval_cfg
        self.device, self.seed, self.dist, self.progress = device, seed, dist, progress
        self.eval_max = eval_cfg.max_segments or train_cfg.max_segments
        self.fixed_max = eval_cfg.fixed_segments or self.eval_max
        self.runner = SegmentRunner(
            model,
            policy,
            loss=train_cfg.loss,
            device=device,
            precision=train_cfg.precision,
            compile=train_cfg.compile,
            compile_backend=train_cfg.compile_backend,
            verify=label_free_verifier(task),
        )

    def run(
        self,
        split: Split,
        mode: Mode,
        segments: int,
        *,
        curve: Sequence[int] = (),
        verify: bool = False,
        show: bool = False,
        trajectory: bool = False,
        on: Task | None = None,
        every_step: bool = False,
        count_decisions: bool = False,
    ) -> ExampleResults:
        return evaluate(
            self.model,
            self.policy,
            on or self.task,
            split,
            mode=mode,
            max_segments=segments,
            batch_size=self.eval_cfg.batch_size,
            device=self.device,
            loss=self.train_cfg.loss,
            seed=self.seed,
            curve=curve,
            verify=verify,
            runner=self.runner,
            dist=self.dist,
            progress=show,
            trajectory=trajectory,
            every_step=every_step,
            count_decisions=count_decisions,
        )

    def quick(self, split: Split) -> dict[str, float | None]:
        """The quick look during training (``train.eval_interval``): policy-halted accuracy and segments."""
        return catalogue.means(self.run(split, "policy", self.eval_max), ("exact_accuracy", "mean_segments"))

    def curve_point(self, split: Split) -> dict[str, Any]:
        mode: Mode = "policy" if self.eval_cfg.policy else "fixed"
        return curve_point(self.run(split, mode, self.eval_max))

    def final_passes(
        self,
        split: Split,
        metrics: dict[str, Any],
        *,
        trajectory: str | None,
        on: Task | None = None,
        variant: str | None = None,
    ) -> dict[str, ExampleResults]:
        """The final evaluation: the fixed pass (to ``fixed_segments``, with accuracy at each segment count
        of the curve), then the policy-halted pass, whose halting quality is measured against the fixed
        pass. Adds their metrics to ``metrics``; ``trajectory``: the pass that keeps each example's
        trajectory (for the sample logs). ``split`` is a test split of ``on`` (default: the task's own);
        an extrapolation test split's metrics are keyed by its label, ``variant``.

        A policy that never stops a row before the cap (``runs_to_cap``: ``fixed``) would run the
        fixed pass's segments again when both passes have the same cap: its policy pass is then the
        fixed pass, which counts the policy's decisions too (same metrics, half the evaluation)."""
        cfg, task, show = self.eval_cfg, on or self.task, self.progress
        bucket, bucket_names = split.bucket, tuple(task.bucket_names)
        shared = (
            cfg.fixed and cfg.policy and self.fixed_max == self.eval_max and getattr(self.policy, "runs_to_cap", False)
        )
        passes: dict[str, ExampleResults] = {}
        reference = None
        if cfg.fixed:
            curve = sorted(set(cfg.curve) | {self.train_cfg.max_segments, self.eval_max, self.fixed_max})
            res = self.run(
                split,
                "fixed",
                self.fixed_max,
                curve=curve,
                verify=cfg.verify,
                show=show,
                trajectory=trajectory == "fixed" or (shared and trajectory is not None),
                on=task,
                every_step=cfg.every_step,
                count_decisions=shared,
            )
            if shared:  # what each pass would have measured on its own
                policy_res = replace(res, correct_at={}, correct_steps=None, steps_per_segment=1)
                res = replace(res, halt_agree=0.0, decisions=0.0, policy_metrics={})
                if trajectory != "fixed":
                    res = replace(res, trajectory=None, halt_probs=None)
            passes["fixed"] = res
            reference = res.first_correct
            summary = summarize(res, bucket=bucket, bucket_names=bucket_names)
            metrics.update(catalogue.of_pass("fixed", summary, variant=variant))
            metrics.update(
                {catalogue.task_key(k, "fixed", variant=variant): v for k, v in task_metrics(task, res, split).items()}
            )
        if cfg.policy:
            if shared:
                res = policy_res
            else:
                res = self.run(
                    split,
                    "policy",
                    self.eval_max,
                    verify=cfg.verify,
                    show=show,
                    trajectory=trajectory is not None,
                    on=task,
                )
            passes["policy"] = res
            summary = summarize(
                res,
                bucket=bucket,
                bucket_names=bucket_names,
                reference_first_correct=reference,
                max_segments=self.eval_max,
            )
            metrics.update(catalogue.of_pass("policy", summary, variant=variant))
            metrics.update(
                {catalogue.task_key(k, "policy", variant=variant): v for k, v in task_metrics(task, res, split).items()}
            )
        return passes


def task_metrics(task: Task, res, split: Split) -> dict[str, float]:
    """The task's optional ``extra_metrics`` hook over one evaluation pass (``{}`` without one)."""
    hook = getattr(task, "extra_metrics", None)
    if hook is None:
        return {}
    return {str(k): float(v) for k, v in hook(res.predictions.numpy(), split).items()}


def deterministic_part(metrics: dict) -> dict:
    """``metrics`` without the keys that time the machine (for same-seed comparisons)."""
    out = {k: v for k, v in metrics.items() if not k.endswith(TIMING_KEYS) and k != "peak_memory_kind"}
    if "learning_curve" in out:
        out["learning_curve"] = [
            {k: v for k, v in p.items() if not k.endswith(TIMING_KEYS)} for p in out["learning_curve"]
        ]
    return out
