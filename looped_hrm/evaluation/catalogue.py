"""The metric catalogue: every number a result record reports, defined once.

An evaluation pass (`looped_hrm.evaluation.evaluate`) measures each test example (`ExampleResults`);
most metrics are the mean of one per-example quantity. For each metric this module says its name,
what it means, the per-example values behind it, whether the record stores those values (so that
the tables can compute intervals over test examples and pair two models on the same puzzles), and
how a table prints it (``kind``). Everything that writes or reads metrics goes through it:
`looped_hrm.evaluation.metrics.summarize` (a pass's summary), `per_example.pack_results` (the
record's per-example arrays), the learning-curve points, the tables and plots of
`looped_hrm.report`, and the command lines' short summaries. None of them keeps its own list.

Keys. A record's metrics are flat and slash-joined:

* ``<pass>/<name>`` — a pass is ``policy`` (every example run until its halting policy stops it)
  or ``fixed`` (run to the maximum): ``policy/exact_accuracy``;
* ``<pass>/bucket/<bucket>/<name>`` — the same metric over one difficulty bucket (metrics with
  ``per_bucket``);
* ``<pass>/<name>@<segments>`` — after that many segments of the fixed pass (``values_at``):
  ``fixed/exact_accuracy@16``;
* ``<pass>/policy_<name>`` and ``train/policy_<name>`` — the halting policy's own metrics
  (``HaltDecision.metrics``, per decision), whatever the policy calls them;
* ``<pass>/task/<name>`` — the task's own metrics (its optional ``extra_metrics`` hook: ARC pass@k);
* ``baseline:<name>/<metric>`` (and ``baseline:<name>/bucket/<bucket>/<metric>``) — a trivial baseline
  (`looped_hrm.evaluation.baselines`: ``copy``, ``majority``, the task's own), scored on the same
  test rows as a pass is and read like one (`is_pass`);
* ``data/<name>`` — what the test split held (`DATA_METRICS`): rows, rows removed by ``eval.limit``,
  distinct items and items also in training up to the task's symmetries (`looped_hrm.overlap`);
* ``extrapolate/<key>=<value>/<pass key>`` — any of the above (passes, baselines and ``data/``) on an
  extrapolation test split (``eval.extrapolate``: the task tested at another size or difficulty),
  whose per-example arrays are in the record's ``extrapolation[<key>=<value>]``;
* run-level keys without a pass (`RUN_METRICS`): ``trainable_params``, ``train/wall_s``, ...

`key` builds a key (and refuses a name the catalogue does not define), `lookup` reads one back into
its parts (`Ref`); nothing else splits or pattern-matches a key.

Adding a metric
---------------
1. A mean over test examples of something `ExampleResults` holds: add a `Metric` to `PASS_METRICS`
   with ``values`` (the per-example tensor; None when the pass did not measure it) and a ``kind``;
   give it ``array`` + ``encoding`` if the record should keep every example's value (the tables'
   intervals are then over seeds *and* examples and comparisons are paired; without, over seeds
   only); ``per_bucket=True`` also reports it per difficulty bucket (``values`` must then give one
   value per example). A quantity the evaluation does not measure yet needs a field in
   `ExampleResults`, filled in `looped_hrm.evaluation.evaluate` (and `merge_results`).
2. That is all for the record and ``estimates.csv``: `summarize` reports ``policy/<name>`` and
   ``fixed/<name>`` (`Metric.summary` is the one mean over examples), `per_example.pack_results`
   stores the array, and the tables compute its interval from it.
3. To show it in a table, add ``Column(key("<name>", "policy"), "header")`` to that table's column
   list in `looped_hrm.report.tables` (the number format comes from the metric's ``kind``).
4. A number about the run rather than a pass (written by `looped_hrm.experiment.run` or the
   trainer), or one the tables derive from several arrays (`compute_saved`): a `Metric` without
   ``values`` in `RUN_METRICS`.

``tests/engine/test_catalogue.py`` runs a tiny experiment and fails if it writes a metric the
catalogue does not define, or if a table column names a metric that no run writes.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Callable, Literal

import numpy as np

if TYPE_CHECKING:
    import torch

    from looped_hrm.evaluation.metrics import ExampleResults

Kind = Literal["pct", "num", "sci", "int"]
"""How a table prints a value: ``pct`` a share as a percentage, ``num`` a plain number, ``sci`` three
significant digits (FLOPs), ``int`` an integer with thousands separators."""
Encoding = Literal["bits", "u8", "u16", "u32", "f32"]
"""How a per-example array is stored in a record (see `looped_hrm.evaluation.per_example.encode`)."""

PASSES = ("policy", "fixed")
BASELINE = "baseline:"
"""Prefix of a trivial baseline's mode (``baseline:copy``), which the record keeps like a pass."""
BUCKET = "bucket"
TASK = "task"
POLICY_OWN = "policy_"
VARIANT = "extrapolate"
"""Prefix of an extrapolation test split's metrics: ``extrapolate/test_length=512/fixed/exact_accuracy``."""
"""Prefix of the halting policy's own metrics (``policy/policy_q_halt_loss``, ``train/policy_...``)."""


@dataclass(frozen=True)
class Reference:
    """What the halting-quality metrics compare a pass with: the fixed pass's first correct segment
    per example (0: never) and which examples it solves within the evaluated pass's cap."""

    first_correct: torch.Tensor
    solvable: torch.Tensor

    @classmethod
    def of(cls, first_correct: torch.Tensor, max_segments: int | None) -> Reference:
        first = first_correct
        return cls(first, (first > 0) & (first <= (max_segments or int(first.max()))))


Values = Callable[["ExampleResults", "Reference | None"], "torch.Tensor | None"]


@dataclass(frozen=True)
class Metric:
    """One metric: its summary is the mean of ``values`` over the examples (None when there are
    none, or ``if_empty``); without ``values`` it is a fact computed elsewhere and only catalogued."""

    name: str
    kind: Kind
    doc: str
    values: Values | None = None
    array: str | None = None  # the record's per-example array (None: not stored)
    encoding: Encoding | None = None
    per_bucket: bool = False
    values_at: Callable[[ExampleResults], dict[int, torch.Tensor]] | None = None  # after S segments (fixed pass)
    if_empty: float | None = None

    def summary(self, values: torch.Tensor) -> float | None:
        """The one place a metric's mean over examples is computed."""
        return mean(values, self.if_empty)


def mean(values: torch.Tensor, if_empty: float | None = None) -> float | None:
    """The mean over examples, or ``if_empty`` (None: JSON null, undefined rather than zero)."""
    return float(values.float().mean()) if values.numel() else if_empty


def _solvable(res: ExampleResults, ref: Reference | None) -> torch.Tensor | None:
    return None if ref is None else ref.solvable


def _at_first_correct(res: ExampleResults, ref: Reference | None) -> torch.Tensor | None:
    return None if ref is None else (res.segments == ref.first_correct)[ref.solvable]


def _premature(res: ExampleResults, ref: Reference | None) -> torch.Tensor | None:
    return None if ref is None else (~res.correct & (res.segments < ref.first_correct))[ref.solvable]


def _overthinking(res: ExampleResults, ref: Reference | None) -> torch.Tensor | None:
    return None if ref is None else (res.segments - ref.first_correct)[res.correct & ref.solvable]


def _oracle_segments(res: ExampleResults, ref: Reference | None) -> torch.Tensor | None:
    return None if ref is None else ref.first_correct.where(ref.solvable, res.segments)


EXACT_ACCURACY = Metric(
    "exact_accuracy",
    "pct",
    "every scored token (label != IGNORE_INDEX) equals the label (HRM's exact_accuracy, what the papers "
    "report; `looped_hrm.engine.correctness`)",
    values=lambda res, _: res.correct,
    array="correct",
    encoding="bits",
    per_bucket=True,
    values_at=lambda res: res.correct_at,
)
PASS_METRICS: tuple[Metric, ...] = (
    EXACT_ACCURACY,
    Metric(
        "token_accuracy",
        "pct",
        "the mean over examples of the fraction of scored tokens right",
        values=lambda res, _: res.token_accuracy,
        array="token_accuracy",
        encoding="f32",
    ),
    Metric(
        "mean_segments",
        "num",
        "outer segments run per example",
        values=lambda res, _: res.segments,
        array="segments",
        encoding="u16",
        per_bucket=True,
    ),
    Metric(
        "mean_inner_steps",
        "num",
        "refinement steps per example, summed over its segments",
        values=lambda res, _: res.inner_steps,
        array="inner_steps",
        encoding="f32",
        per_bucket=True,
    ),
    Metric(
        "flops_per_example",
        "sci",
        "forward FLOPs spent per example (the model's per-example SegmentOutput.flops when given, else "
        "compute_profile().forward_flops per segment)",
        values=lambda res, _: res.flops,
        array="flops",
        encoding="f32",
        per_bucket=True,
    ),
    Metric(
        "verified_accuracy",
        "pct",
        "Task.verify accepts the prediction by the rules of the puzzle (equal to exact accuracy when the "
        "answer is unique, higher when several answers are valid); absent when verification was off",
        values=lambda res, _: res.verified,
        array="verified",
        encoding="bits",
        per_bucket=True,
    ),
    # halting quality against the same model run by the fixed pass (`Reference`): policy pass only
    Metric("solvable", "pct", "share of examples the fixed pass gets right within this pass's cap", _solvable),
    Metric(
        "halted_at_first_correct",
        "pct",
        "among solvable examples: stopped exactly at the first correct segment",
        _at_first_correct,
    ),
    Metric("premature_halt", "pct", "among solvable examples: stopped wrong before it", _premature),
    Metric(
        "overthinking",
        "num",
        "mean segments spent after the first correct one, among solvable examples right when they stopped "
        "(0 when there is none)",
        _overthinking,
        if_empty=0.0,
    ),
    Metric(
        "oracle_mean_segments",
        "num",
        "segments the oracle would spend (the cap for examples the fixed pass never solves)",
        _oracle_segments,
    ),
    # facts of the pass, not means over examples (computed by `summarize`)
    Metric("examples", "int", "test examples evaluated (per bucket: in the bucket)", per_bucket=True),
    Metric(
        "wall_s",
        "num",
        "wall-clock seconds of the pass (under `fixed` halting with the fixed pass's cap, the policy pass is "
        "the fixed pass: the same seconds)",
    ),
    Metric("examples_per_s", "num", "examples evaluated per second"),
    Metric(
        "halt_accuracy",
        "pct",
        'per halting decision, "stop" agrees with "the answer is right now" (HRM\'s q_halt_accuracy '
        "generalised to any policy); policy pass only",
    ),
    # accuracy against test-time steps (a fixed pass with eval.every_step; its arrays: `array_at_step`)
    Metric(
        "steps_per_segment",
        "int",
        "steps per segment of the step curve: the model's inner steps (DT iterations, TRM cycles, "
        "looped-transformer loops) when it reports a prediction after each, else 1 (a step is a segment)",
    ),
    Metric("peak_exact_accuracy", "pct", "the highest exact accuracy after any number of steps of the pass"),
    Metric("peak_step", "int", "the first step count at which the pass reaches its peak exact accuracy"),
    Metric(
        "overthinking_drop",
        "pct",
        "peak exact accuracy minus the exact accuracy after the last step (the DeepThinking papers' "
        "overthinking: accuracy lost by thinking longer)",
    ),
)

COMPUTE_SAVED = Metric(
    "compute_saved",
    "pct",
    "per example, 1 - FLOPs spent under the halting policy / FLOPs of running it to the policy's cap "
    "(the fixed pass's FLOPs scaled from fixed_segments to eval_max_segments); from both passes' arrays",
)
RUN_METRICS: tuple[Metric, ...] = (
    COMPUTE_SAVED,
    Metric("trainable_params", "int", "trainable parameters of the model"),
    Metric("forward_flops_per_segment", "sci", "forward FLOPs of one segment per example (compute_profile)"),
    Metric("train_max_segments", "int", "segment cap during training"),
    Metric("eval_max_segments", "int", "segment cap of the policy pass"),
    Metric("fixed_segments", "int", "segments run by the fixed pass"),
    Metric("peak_memory_mb", "num", "peak memory of the process (peak_memory_kind says which counter)"),
    Metric("seed", "int", "the combination's seed"),
    Metric("train/steps", "int", "optimizer steps taken"),
    Metric("train/epochs", "num", "passes over the training split"),
    Metric("train/examples", "int", "training examples consumed (an ACT slot refilled counts one)"),
    Metric("train/flops", "sci", "training FLOPs spent"),
    Metric("train/wall_s", "num", "training wall time (learning-curve evaluations excluded)"),
    Metric("train/cpu_s", "num", "training CPU time of the process (learning-curve evaluations excluded)"),
    Metric("train/examples_per_s", "num", "training examples per second"),
    Metric("train/loss", "num", "mean training loss over the last logged window"),
    Metric("train/exact_accuracy", "pct", "exact accuracy of the examples that halted in the last logged window"),
    Metric("train/token_accuracy", "pct", "token accuracy of the examples that halted in the last logged window"),
    Metric("train/mean_segments", "num", "segments of the examples that halted in the last logged window"),
    Metric("train/halted", "int", "examples that halted in the last logged window"),
)

DATA_METRICS: tuple[Metric, ...] = (
    Metric("data/test_rows", "int", "test rows evaluated"),
    Metric("data/removed_by_limit", "int", "test rows that eval.limit left out (the split's rows after the first N)"),
    Metric(
        "data/left_out",
        "int",
        "test puzzles the task could not hold and left out of its test split (ARC: tasks with a grid larger "
        "than the canvas); recorded by the tasks that can leave some out",
    ),
    Metric(
        "data/test_distinct",
        "int",
        "distinct items among the test rows, up to the task's symmetries (augmented views of one input are one)",
    ),
    Metric(
        "data/test_in_train",
        "int",
        "test rows that are training items up to the task's symmetries (looped_hrm.overlap); absent when the "
        "weights were trained outside this suite (train.init_from)",
    ),
)

_PASS = {m.name: m for m in PASS_METRICS}
_RUN = {m.name: m for m in RUN_METRICS + DATA_METRICS}
_DATA = {m.name: m for m in DATA_METRICS}
_ARRAY = {m.array: m for m in PASS_METRICS if m.array is not None}
_POLICY_OWN = Metric(POLICY_OWN, "num", "the halting policy's own metric, per decision")
_TASK_OWN = Metric(TASK, "pct", "the task's own metric (its extra_metrics hook)")

CURVE_METRICS = ("exact_accuracy", "token_accuracy", "mean_segments", "flops_per_example")
"""What each learning-curve point reports (with ``exact_accuracy``'s per-example array)."""


def means(res: ExampleResults, names: tuple[str, ...]) -> dict[str, float | None]:
    """The named pass metrics of ``res`` (each a mean over its examples), for quick looks during training."""
    out = {}
    for name in names:
        metric = _PASS[name]
        values = metric.values(res, None) if metric.values is not None else None
        if values is None:
            raise KeyError(f"{name!r} is not a mean over examples that this pass measured")
        out[name] = metric.summary(values)
    return out


@dataclass(frozen=True)
class Ref:
    """A flat key read back into its parts (`lookup`).

    ``metric`` is the catalogue's definition, or None for a name it does not know (a record written
    by other code); ``section`` is ``""``, ``"bucket"``, ``"task"`` or ``"policy_"`` (the policy's
    own metrics, whose ``name`` keeps the prefix)."""

    key: str
    name: str
    metric: Metric | None
    mode: str | None = None  # a pass ("policy", "fixed"), or None for a run-level key
    section: str = ""
    bucket: str | None = None
    at: int | None = None
    variant: str | None = None  # the extrapolation test split (``test_length=512``), None: the task's own

    @property
    def array(self) -> str | None:
        """The per-example array behind this key in ``per_example[mode]`` (None: none is stored)."""
        m = self.metric
        if m is None or m.array is None or self.mode is None or self.section not in ("", BUCKET):
            return None
        if self.at is not None:
            return array_at(m, self.at) if m.values_at is not None and self.section == "" else None
        return m.array


def array_at(metric: Metric, segments: int) -> str:
    """The record's per-example array of ``metric`` after ``segments`` segments (``correct@16``)."""
    return f"{metric.array}@{segments}"


def is_pass(mode: str | None) -> bool:
    """``mode`` holds a pass's metrics: an evaluation pass or a trivial baseline (``baseline:copy``)."""
    return mode is not None and (mode in PASSES or (mode.startswith(BASELINE) and len(mode) > len(BASELINE)))


def baseline_mode(name: str) -> str:
    """The mode under which the record keeps trivial baseline ``name`` (``baseline:copy``)."""
    return BASELINE + name


def by_array(array: str) -> Metric:
    """The pass metric whose per-example array is called ``array`` (``correct`` -> exact_accuracy)."""
    return _ARRAY[array]


def array_at_step(step: int) -> str:
    """The record's per-example exactness after ``step`` steps of a fixed pass with a step curve
    (``correct~30``; a step is an inner step or a segment, `steps_per_segment`)."""
    return f"{EXACT_ACCURACY.array}~{step}"


def metric(name: str) -> Metric:
    """The catalogue's pass or run-level metric called ``name`` (KeyError if there is none)."""
    found = _PASS.get(name) or _RUN.get(name)
    if found is None:
        raise KeyError(f"{name!r} is not a metric of the catalogue")
    return found


def _variant(variant: str | None) -> str:
    if variant is None:
        return ""
    if not variant or "/" in variant:
        raise KeyError(f"{variant!r} cannot name an extrapolation test split (empty or with '/')")
    return f"{VARIANT}/{variant}/"


def of_pass(mode: str, metrics: dict[str, float | None], variant: str | None = None) -> dict[str, float | None]:
    """A pass's metrics (keyed within the pass, as `summarize` gives them) keyed in the record (on the
    extrapolation test split ``variant``, None: the task's own test split)."""
    if mode not in PASSES:
        raise KeyError(f"{mode!r} is not an evaluation pass ({', '.join(PASSES)})")
    return {f"{_variant(variant)}{mode}/{name}": value for name, value in metrics.items()}


def array_of(name: str) -> str:
    """The name of the per-example array the record stores for metric ``name`` (KeyError if none)."""
    array = metric(name).array
    if array is None:
        raise KeyError(f"{name!r} has no per-example array in a record")
    return array


def task_key(name: str, mode: str, variant: str | None = None) -> str:
    """The key of the task's own metric ``name`` (its ``extra_metrics`` hook) in pass ``mode``."""
    if mode not in PASSES:
        raise KeyError(f"{mode!r} is not an evaluation pass ({', '.join(PASSES)})")
    return f"{_variant(variant)}{mode}/{TASK}/{name}"


def within_pass(name: str, *, bucket: str | None = None, at: int | None = None) -> str:
    """The key of a pass metric inside its pass (``bucket/hard/exact_accuracy``), as `summarize` writes
    it; a name the catalogue does not define is a KeyError."""
    metric = _PASS.get(name)
    if metric is None:
        raise KeyError(f"{name!r} is not a metric of the catalogue")
    if bucket is not None and not metric.per_bucket:
        raise KeyError(f"{name!r} is not reported per bucket")
    if at is not None and metric.values_at is None:
        raise KeyError(f"{name!r} is not reported per segment count")
    text = f"{name}@{at}" if at is not None else name
    return f"{BUCKET}/{bucket}/{text}" if bucket is not None else text


def key(
    name: str,
    mode: str | None = None,
    *,
    bucket: str | None = None,
    at: int | None = None,
    variant: str | None = None,
) -> str:
    """The flat key of a catalogued metric (``mode``: a pass; None for a run-level metric; ``variant``:
    an extrapolation test split). A name the catalogue does not define is a KeyError, so a renamed
    metric breaks its readers loudly instead of emptying a column."""
    if mode is None:
        if name not in _RUN or bucket is not None or at is not None:
            raise KeyError(f"{name!r} is not a run-level metric of the catalogue")
        if variant is not None and name not in _DATA:
            raise KeyError(f"{name!r} is not measured on an extrapolation test split (only {', '.join(_DATA)})")
        return f"{_variant(variant)}{name}"
    if not is_pass(mode):
        raise KeyError(f"{mode!r} is not an evaluation pass ({', '.join(PASSES)}) or a baseline")
    return f"{_variant(variant)}{mode}/{within_pass(name, bucket=bucket, at=at)}"


def lookup(flat: str) -> Ref | None:
    """``flat`` read back into its parts; None for a key that is no metric's (``policy``, ``device``).
    A pass key the catalogue cannot read (written by other code) gives a `Ref` without ``metric``."""
    if flat.startswith(VARIANT + "/"):
        variant, _, rest = flat[len(VARIANT) + 1 :].partition("/")
        ref = lookup(rest) if variant else None
        if ref is None or ref.variant is not None or (ref.mode is None and ref.name not in _DATA):
            return None
        return replace(ref, key=flat, variant=variant)
    if flat in _RUN:
        return Ref(flat, flat, _RUN[flat])
    mode, _, rest = flat.partition("/")
    if mode == "train" and rest.startswith(POLICY_OWN):
        return Ref(flat, rest, _POLICY_OWN, section=POLICY_OWN)
    if not is_pass(mode) or not rest:
        return None
    unknown = Ref(flat, rest, None, mode)
    section, _, tail = rest.partition("/")
    if section == TASK:
        return Ref(flat, tail, _TASK_OWN, mode, section=TASK) if tail else unknown
    bucket = None
    if section == BUCKET:
        bucket, _, rest = tail.partition("/")
        if not bucket or not rest or "/" in rest:
            return unknown
    elif tail:
        return unknown
    if rest.startswith(POLICY_OWN):
        return Ref(flat, rest, _POLICY_OWN, mode, section=POLICY_OWN) if bucket is None else unknown
    name, _, segments = rest.partition("@")
    at = int(segments) if segments.isdigit() else None
    if segments and at is None:
        return unknown
    metric = _PASS.get(name)
    if metric is None or (bucket is not None and not metric.per_bucket) or (at is not None and not metric.values_at):
        return Ref(flat, name, None, mode, section=BUCKET if bucket is not None else "", bucket=bucket, at=at)
    return Ref(flat, name, metric, mode, section=BUCKET if bucket is not None else "", bucket=bucket, at=at)


def compute_saved(
    policy_flops: np.ndarray, fixed_flops: np.ndarray, eval_max_segments: int, fixed_segments: int
) -> np.ndarray:
    """Per example: 1 - FLOPs under the policy / FLOPs of running it to the policy's cap (the fixed pass
    ran ``fixed_segments`` segments; its FLOPs are scaled to ``eval_max_segments``); 0 where the cap
    costs nothing."""
    cap = fixed_flops * eval_max_segments / fixed_segments
    return np.nan_to_num(1 - policy_flops / np.where(cap > 0, cap, np.nan))
