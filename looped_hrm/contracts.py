"""The plugin contract: what a task, a reasoning model and a halting policy must provide, and the
data classes they exchange.

Three roles meet here and nowhere else:

* a **Task** turns its config into deterministic splits of token grids and checks answers by the
  rules of the puzzle;
* a **ReasoningModel** advances a per-example latent *carry* by one *segment* (one outer step of
  reasoning) and reports what it spent;
* a **HaltingPolicy** decides, per example and after every segment, whether to stop, and contributes
  its own loss term.

The engine (`looped_hrm.training`, `looped_hrm.evaluation`) only ever talks to these protocols, so a
third-party package can add any of the three without touching the core. Plugins announce themselves
through the hooks in `looped_hrm.hookspecs`, returning the `*Spec` records defined at the bottom.

Conventions shared by everyone:

* token grids are ``int64`` tensors of shape ``[N, seq_len]``; labels use `IGNORE_INDEX` for positions
  that are not scored;
* everything batch-shaped is batch-first, so the engine can select, reorder and refill rows of any
  carry or policy state without knowing what is inside (`select_rows`, `scatter_rows`, `where_rows`:
  the one home of these per-row helpers, for the engine and for models alike);
* "segment" is the outer step (what ACT halts); "inner" steps are refinement steps inside a segment
  (the lower level of two-level halting).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Literal, Mapping, Protocol, runtime_checkable

import numpy as np
import torch

IGNORE_INDEX = -100
"""Label value for positions that are not supervised or scored (PyTorch's cross-entropy default)."""

HaltingLevel = Literal["segment", "inner"]
"""``segment``: stop the outer loop for an example. ``inner``: end a refinement burst inside a segment."""

SPLITS = ("train", "test")

Carry = dict[str, torch.Tensor]
"""A model's recurrent state: a dict of batch-first tensors. The engine treats it as opaque rows."""

PolicyState = dict[str, torch.Tensor]
"""A halting policy's per-example running state (e.g. cumulative halting probability), batch-first."""


# --------------------------------------------------------------------------------------------- data


@dataclass(frozen=True)
class TaskInfo:
    """What a model needs to know about a task to size its embeddings and heads.

    ``grid`` is ``(rows, cols)`` when every sequence is a row-major grid (token ``r * cols + c``), so
    that a model can mix positions in 2-D (convolutions, 2-D positions); None for a 1-D sequence.

    ``given_tokens`` are input tokens that are their own label wherever they appear — a maze's walls,
    start and goal: the answer keeps them and only the other cells are to be solved. A model may
    leave those cells out of its loss and predict them as given (DeepThinking's official maze loss
    and prediction masks, `dt_net`); none of the engine's metrics treats them apart.
    """

    vocab_size: int
    seq_len: int
    num_puzzle_ids: int = 1
    grid: tuple[int, int] | None = None
    given_tokens: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if self.grid is not None and self.grid[0] * self.grid[1] != self.seq_len:
            raise ValueError(f"grid {self.grid} does not hold seq_len {self.seq_len} tokens")

    def grid_at(self, length: int) -> tuple[int, int] | None:
        """The grid of a sequence of ``length`` tokens (None for 1-D tasks): ``grid`` itself at
        ``seq_len``; at another length a square grid scales (a task tested on larger grids than it
        was trained on), any other shape cannot be told from the length alone (ValueError)."""
        if self.grid is None:
            return None
        if length == self.seq_len:
            return self.grid
        side = math.isqrt(length)
        if self.grid[0] != self.grid[1] or side * side != length:
            raise ValueError(
                f"a sequence of {length} tokens is not a grid of this task's shape "
                f"({self.grid[0]}x{self.grid[1]} at training; other sizes must be square)"
            )
        return side, side


@dataclass
class Split:
    """One split of a task: N examples as token grids plus what the metrics need per example.

    ``difficulty`` is the task's measured difficulty (e.g. solver backtracks for Sudoku, shortest
    path length for a maze) and ``bucket`` its coarse class, an index into ``Task.bucket_names``;
    the evaluation reports accuracy and compute per bucket.
    """

    inputs: torch.Tensor  # int64 [N, L]
    labels: torch.Tensor  # int64 [N, L], IGNORE_INDEX where not scored
    puzzle_ids: torch.Tensor  # int64 [N]
    difficulty: torch.Tensor  # float32 [N]
    bucket: torch.Tensor  # int64 [N]

    def __post_init__(self) -> None:
        n, length = self.inputs.shape
        if self.labels.shape != (n, length):
            raise ValueError(f"labels shape {tuple(self.labels.shape)} != inputs shape {(n, length)}")
        for name in ("puzzle_ids", "difficulty", "bucket"):
            if getattr(self, name).shape != (n,):
                raise ValueError(f"{name} must have shape ({n},), got {tuple(getattr(self, name).shape)}")

    def __len__(self) -> int:
        return self.inputs.shape[0]

    def subset(self, index: torch.Tensor | np.ndarray | slice) -> "Split":
        """The rows at ``index`` (a slice, an index vector or a boolean mask)."""
        if isinstance(index, np.ndarray):
            index = torch.from_numpy(index)
        return Split(
            inputs=self.inputs[index],
            labels=self.labels[index],
            puzzle_ids=self.puzzle_ids[index],
            difficulty=self.difficulty[index],
            bucket=self.bucket[index],
        )

    def batch(self, index: torch.Tensor, device: torch.device | str = "cpu") -> "Batch":
        """The rows at ``index`` as a model batch on ``device``."""
        return Batch(
            inputs=self.inputs[index].to(device),
            labels=self.labels[index].to(device),
            puzzle_ids=self.puzzle_ids[index].to(device),
        )

    def to_arrays(self) -> dict[str, np.ndarray]:
        return {k: getattr(self, k).numpy() for k in ("inputs", "labels", "puzzle_ids", "difficulty", "bucket")}

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, np.ndarray]) -> "Split":
        return cls(
            inputs=torch.as_tensor(np.asarray(arrays["inputs"]), dtype=torch.int64),
            labels=torch.as_tensor(np.asarray(arrays["labels"]), dtype=torch.int64),
            puzzle_ids=torch.as_tensor(np.asarray(arrays["puzzle_ids"]), dtype=torch.int64),
            difficulty=torch.as_tensor(np.asarray(arrays["difficulty"]), dtype=torch.float32),
            bucket=torch.as_tensor(np.asarray(arrays["bucket"]), dtype=torch.int64),
        )


@dataclass
class Batch:
    """What a model sees for one batch of examples (already on the model's device)."""

    inputs: torch.Tensor  # int64 [B, L]
    labels: torch.Tensor  # int64 [B, L]
    puzzle_ids: torch.Tensor  # int64 [B]

    def __len__(self) -> int:
        return self.inputs.shape[0]


@dataclass
class SegmentOutput:
    """Everything one segment of a model produced, for the loss, the halting policy and the analyses.

    Only ``logits`` is required. A model that has no halting head leaves ``q_halt`` as None and can
    then only run under policies that do not read it (``fixed``, ``verifier``, ``oracle``).
    """

    logits: torch.Tensor  # [B, L, V] prediction after this segment
    q_halt: torch.Tensor | None = None  # [B] halting logit (float32)
    q_continue: torch.Tensor | None = None  # [B] continue logit (HRM's Q-learning), float32
    inner_steps: torch.Tensor | None = None  # [B] int64, refinement steps this example used in the segment
    inner_halt_logits: torch.Tensor | None = None  # [B, K] refinement-level halting logit after each inner step
    inner_preds: torch.Tensor | None = None  # [B, K, L] argmax prediction after each inner step (no grad)
    flops: torch.Tensor | None = None  # [B] forward FLOPs actually spent on each example in this segment
    # A second prediction trained beside ``logits`` (training only; None elsewhere): the segment's task
    # loss is (1 − aux_weight)·loss(logits) + aux_weight·loss(aux_logits) — DeepThinking's progressive loss
    aux_logits: torch.Tensor | None = None  # [B, L, V] float32, with gradient
    aux_weight: float = 0.0
    residuals: dict[str, torch.Tensor] = field(default_factory=dict)  # level -> [B, S] ‖z_t − z_{t−1}‖ per update
    states: dict[str, torch.Tensor] = field(default_factory=dict)  # level -> [B, L, D] final state (detached)


@dataclass(frozen=True)
class ComputeProfile:
    """What one segment costs, so results can be normalised by compute (``python -m looped_hrm info``).

    FLOPs count multiply-adds as 2 and are *per example* for one segment at the task's sequence
    length: ``forward_flops`` is what inference pays, ``train_flops`` what a training step pays
    (forward + backward through the gradient-carrying part, excluding any lookahead a halting policy
    adds). Depths count transformer blocks.
    """

    trainable_params: int
    effective_depth: int  # blocks applied per segment (forward)
    gradient_depth: int  # blocks the gradient flows through per segment
    forward_flops: float
    train_flops: float
    inner_steps: int = 0  # refinement steps per segment at the default setting (0: no inner level)
    notes: str = ""


InnerHalt = Callable[[int, torch.Tensor], torch.Tensor]
"""``inner_halt(step, halt_logits[B]) -> stop[B]``: called by a model with an inner level after each
refinement step (``step`` counts from 1); rows where it returns True end their burst."""


@dataclass
class HaltContext:
    """What a halting policy may look at after a segment (all detached).

    The task losses are the engine's (``TrainConfig.loss``), so a policy that scores segments by
    their loss uses the very loss being trained. ``labels`` and ``correct`` are there so trained
    policies can build their targets; a policy that *decides* from them (``oracle``) must say so
    with ``uses_labels = True``.
    """

    inputs: torch.Tensor  # [B, L]
    labels: torch.Tensor  # [B, L]
    predictions: torch.Tensor  # [B, L] argmax of the segment's logits
    lm_loss: torch.Tensor  # [B] per-example task loss of this segment (detached; the engine adds it to the loss)
    correct: torch.Tensor  # [B] bool, the whole answer is right (all scored tokens)
    steps: torch.Tensor  # [B] int64, segments run so far including this one (>= 1)
    max_steps: int
    training: bool
    generator: torch.Generator | None = None  # for exploration; on the batch's device
    next_output: SegmentOutput | None = None  # lookahead segment (no grad), if the policy asked for it
    next_lm_loss: torch.Tensor | None = None  # [B] the engine's task loss of ``next_output`` (no grad)
    verify: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None  # (preds, inputs) -> ok[B], label-free
    # (offset, total) when the batch is one rank's rows of a data-parallel batch: draw random numbers
    # for all ``total`` rows and keep ``[offset, offset + B)``, so any rank count draws alike
    rows: tuple[int, int] | None = None


@dataclass
class HaltDecision:
    """A policy's answer for one segment.

    ``loss`` is the policy's own *halting* term, summed over the batch (None: it adds none). The
    engine owns the task loss: the segment's loss is ``sum_b task_weight_b * lm_loss_b + loss``
    (`looped_hrm.engine.segment.segment_loss`), divided by the batch size for the optimizer step.
    ``task_weight`` lets a policy weight the task term per example (PonderNet's ``p_n``); it must
    be detached. ``halt`` is the policy's wish; the engine also stops every example at ``max_steps``.
    """

    halt: torch.Tensor  # [B] bool
    loss: torch.Tensor | None = None  # scalar halting term (with grad), task loss excluded
    task_weight: torch.Tensor | None = None  # [B] detached weights of the task loss (None: 1 for every row)
    state: PolicyState = field(default_factory=dict)
    metrics: dict[str, torch.Tensor] = field(default_factory=dict)  # scalars, summed over the batch


@dataclass
class GridPicture:
    """How a task draws one grid for traces (the optional ``Task.picture``; drawn by
    `looped_hrm.evaluation.pictures`). Cell ``(r, c)`` is token ``r * W + c``, so the cells that
    changed between two segments can be outlined."""

    colours: np.ndarray  # [H, W, 3] fill colour of each cell, floats in 0..1
    text: np.ndarray | None = None  # [H, W] str written in each cell ('' for none), e.g. Sudoku digits
    text_colours: np.ndarray | None = None  # [H, W, 3] colour of that text (default black)
    links: list[tuple[tuple[int, int], tuple[int, int]]] = field(
        default_factory=list
    )  # lines between cell centres (a path)
    box: tuple[int, int] | None = None  # draw thicker rules every box[0] rows and box[1] columns (Sudoku boxes)
    used: np.ndarray | None = None  # [H, W] bool: cells that hold anything; a drawing crops to them (ARC canvases)


# ----------------------------------------------------------------------------------------- protocols


@runtime_checkable
class Task(Protocol):
    """A family of puzzles as deterministic token-grid splits with an exact rule checker.

    Optional (not part of the protocol check; the engine never calls them):

    * ``augment(inputs, labels, rng) -> (inputs, labels)`` — one random validity-preserving transform
      of one example; a task applies its augmentations itself when it builds the train split;
    * ``extra_metrics(predictions, split) -> dict[str, float]``
      — the task's own metrics over a whole evaluation pass (``predictions`` ``int64 [N, L]`` in the
      order of ``split``), e.g. ARC's pass@2 by voting over augmented views or proof statistics. The
      engine stores them as ``<pass>/task/<name>`` and the tables show them;
    * ``canonical_forms(split) -> Sequence[Hashable]`` — one key per row, equal for rows that are the
      same item up to the task's symmetries (its augmentations): what `looped_hrm.overlap` uses to
      count test items that are training items, and to count distinct test items. Without it, rows
      with the same puzzle id and input tokens are the same item;
    * ``baselines(train, test) -> dict[str, np.ndarray]`` — the task's own trivial baselines, int64
      ``[N_test, L]`` predictions that need no training (Sudoku: the givens and a random allowed
      digit per blank), scored beside ``copy`` and ``majority`` (`looped_hrm.evaluation.baselines`);
    * ``left_out: int`` — test puzzles the task could not put in its test split (ARC: tasks with a grid
      larger than the canvas), recorded as ``data/left_out`` and warned about, so that a score over
      fewer puzzles than the user gave is never silent.
    """

    name: str
    info: TaskInfo
    bucket_names: tuple[str, ...]  # difficulty classes, easiest first; Split.bucket indexes this
    label_free_verify: bool  # verify() checks the rules without the stored label (Sudoku, maze, proofs)

    def build(self, split: str) -> Split:
        """The ``train`` or ``test`` split; the same config gives the same data (cached on disk).
        Train-only augmentations are already applied (copies included) in the train split."""
        ...

    def verify(self, prediction: np.ndarray, inputs: np.ndarray, labels: np.ndarray | None = None) -> bool:
        """Is ``prediction`` (``[L]`` tokens) a correct answer to ``inputs`` by the rules of the puzzle?
        Not a comparison with ``labels`` where the rules allow several answers. Tasks with
        ``label_free_verify`` must accept ``labels=None`` (the ``verifier`` halting policy passes
        None at test time); the others compare with the labels."""
        ...

    def render(self, tokens: np.ndarray) -> str:
        """A human-readable picture of one grid (for traces and error messages)."""
        ...

    # Optional, not part of the runtime check (a task without them still works):
    #   picture(tokens, inputs) -> GridPicture   colours/text for `python -m looped_hrm trace --out`
    #   parse(text) -> np.ndarray [L]            a puzzle typed by a user (`trace --puzzle`), e.g. 81 digits


@runtime_checkable
class ReasoningModel(Protocol):
    """A recurrent reasoner run segment by segment (also a ``torch.nn.Module``).

    The engine calls ``initial_carry`` for fresh examples, then ``segment`` repeatedly; it detaches
    the carry between segments and may select or replace rows of it (ACT batching), so every tensor
    in the carry must be batch-first.
    """

    halting_levels: frozenset[str]  # which HaltingLevel values this model supports

    def initial_carry(self, batch: Batch) -> Carry:
        """The state a fresh example starts from: batch-first tensors, one row per example of
        ``batch``, without gradient. The engine also uses it to restart single rows (ACT refill), so
        a row must not depend on the other rows of the batch."""
        ...

    def segment(self, carry: Carry, batch: Batch, inner_halt: InnerHalt | None = None) -> tuple[Carry, SegmentOutput]:
        """One outer step of reasoning: the next carry (same keys and shapes; the engine detaches it)
        and the segment's `SegmentOutput` (float32 logits with gradient, halting logits for the
        ``segment`` level). A model with an ``inner`` level calls ``inner_halt(step, logits)`` after
        each refinement step and stops the rows it returns True for; None means fixed inner steps."""
        ...

    def compute_profile(self) -> ComputeProfile:
        """What one segment costs per example (FLOPs, depths, parameters), for compute-normalised
        results and ``python -m looped_hrm info``; the engine falls back to it when a segment does not
        report per-example ``flops``."""
        ...

    def puzzle_embedding_parameters(self) -> list[torch.nn.Parameter]:
        """Parameters trained by the sparse sign-SGD of the official code (empty when none); they are
        excluded from the trainable-parameter count, as in the official HRM/TRM."""
        ...

    # Optional, not part of the runtime check:
    #   length_problem(length) -> str | None   why the model cannot run inputs of ``length`` tokens (None:
    #     it can); asked before a task is tested at another size than it was trained at (learned
    #     absolute positions cannot, RoPE and convolutions can). Without it the model is tried.
    #   lr_scales() -> [(factor, [parameters]), ...]   parameters that learn at ``factor`` × the
    #     schedule's rate (`looped_hrm.training.optim.dense_groups`; dt_net's official lr_throttle).
    #     Without it every dense parameter learns at the rate.

    # torch.nn.Module API the engine relies on
    training: bool

    def parameters(self, recurse: bool = True): ...
    def train(self, mode: bool = True): ...
    def eval(self): ...
    def state_dict(self, *args: Any, **kwargs: Any): ...
    def load_state_dict(self, state_dict: Mapping[str, Any], strict: bool = True, assign: bool = False): ...
    def to(self, *args: Any, **kwargs: Any): ...


@runtime_checkable
class HaltingPolicy(Protocol):
    """Decides per example when to stop, and what loss teaches that decision.

    Optional: ``runs_to_cap = True`` on a policy that never stops a row before the engine's cap,
    whatever the outputs (``fixed``): its evaluation is the fixed pass, which the runner then
    reuses as its policy pass rather than running the same segments twice (read with ``getattr``,
    default False)."""

    name: str
    levels: frozenset[str]  # HaltingLevel values it drives; the model must support all of them
    optional_levels: frozenset[str]  # levels it also drives when the model has them (else it runs without)
    needs_q_head: bool  # reads SegmentOutput.q_halt / q_continue
    needs_lookahead: bool  # wants HaltContext.next_output (HRM's bootstrapped Q-continue target)
    uses_labels: bool  # decides from the labels: an analysis upper bound, never a deployable policy

    def init_state(self, batch_size: int, device: torch.device) -> PolicyState:
        """The per-example state of fresh examples (batch-first tensors, ``{}`` for none); the engine
        restarts single rows from it and carries it, detached, between segments."""
        ...

    def inner_halt(self, training: bool) -> InnerHalt | None:
        """The refinement-level rule handed to the model's ``segment`` (None: fixed inner steps)."""
        ...

    def step(self, output: SegmentOutput, state: PolicyState, ctx: HaltContext) -> HaltDecision:
        """After each segment: which rows halt, the next state, and the policy's halting loss term
        (the engine adds the task loss itself, see `HaltDecision`). Runs in the hot loop: no host
        synchronisation (no ``.item()``, no boolean indexing)."""
        ...


# ------------------------------------------------------------------------------------ plugin specs


@dataclass(frozen=True)
class PluginSpec:
    """What a plugin contributes: a named factory with a config dataclass and presets.

    ``config`` is a dataclass type whose defaults are the plugin's default configuration;
    ``presets`` maps a preset name (``tiny``, ``small``, ``paper``, ...) to field overrides.
    """

    name: str
    factory: Callable[..., Any]
    config: type
    description: str
    presets: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    aliases: tuple[str, ...] = ()
    revision: int = (
        1  # bump when the same config gives different output (generator, model code): results keyed on it rerun
    )

    kind = "plugin"


@dataclass(frozen=True)
class TaskSpec(PluginSpec):
    """``factory(config) -> Task``."""

    kind = "task"


@dataclass(frozen=True)
class ModelSpec(PluginSpec):
    """``factory(config, task_info: TaskInfo) -> ReasoningModel``.

    ``default_halting`` names the halting policy a run of this model uses when none is asked for
    (``--halting`` left out, a benchmark without ``halting:``): the model's own, the one its heads
    are trained for — HRM's Q-learning ``act_q``, TRM's ``act_bce``. It is declared here and nowhere
    else, so ``eval`` of an official checkpoint halts the way that model was trained to.

    ``default_loss`` is the per-token cross-entropy a run trains with when ``train.loss`` is not
    set: the model's official one — HRM's and TRM's stablemax, DeepThinking's softmax (under
    stablemax, `dt_net` at width 32 sat at chance on prefix sums and then diverged)."""

    default_halting: str = "act_q"
    default_loss: str = "stablemax"

    kind = "model"


@dataclass(frozen=True)
class HaltingSpec(PluginSpec):
    """``factory(config) -> HaltingPolicy``; a policy that delegates to another: ``factory(config, **{wraps: policy})``.

    ``wraps`` names a field of the config that holds the name of another halting policy this one
    delegates to (``verifier``'s learned ``fallback``), with ``<field>_preset`` and
    ``<field>_config`` beside it. The host resolves that policy as it resolves any other (config
    completed and validated; its package version and revision part of the combination's key, so a
    changed fallback reruns) and hands it over built: a plugin never asks the registry for another."""

    wraps: str | None = None

    kind = "halting"


def compatibility_problem(model_levels: frozenset[str], policy: HaltingPolicy) -> str | None:
    """Why a model with ``model_levels`` cannot run under ``policy`` (None: it can).

    The engine refuses such a pair and the benchmark runner lists it as skipped with this reason.
    """
    missing = set(policy.levels) - set(model_levels) - set(policy.optional_levels)
    if missing:
        return (
            f"halting policy '{policy.name}' drives level(s) {', '.join(sorted(missing))} that the model "
            f"does not support (its levels: {', '.join(sorted(model_levels)) or 'none'})"
        )
    if policy.needs_q_head and "segment" not in model_levels:
        return f"halting policy '{policy.name}' needs a halting (Q) head, which the model does not have"
    return None


# ------------------------------------------------------------------------------- carry row helpers


def select_rows(tensors: Mapping[str, torch.Tensor], index: torch.Tensor) -> dict[str, torch.Tensor]:
    """Rows ``index`` (indices or a boolean mask) of every batch-first tensor."""
    return {k: v[index] for k, v in tensors.items()}


def scatter_rows(
    tensors: Mapping[str, torch.Tensor], index: torch.Tensor, update: Mapping[str, torch.Tensor]
) -> dict[str, torch.Tensor]:
    """Every batch-first tensor with its rows ``index`` replaced by the rows of ``update`` (out of place)."""
    return {k: v.index_copy(0, index, update[k]) for k, v in tensors.items()}


def where_rows(
    mask: torch.Tensor, new: Mapping[str, torch.Tensor], old: Mapping[str, torch.Tensor]
) -> dict[str, torch.Tensor]:
    """Per row: ``new`` where ``mask`` [B] is True, else ``old`` (used to restart halted examples)."""
    return {k: torch.where(mask.view(-1, *([1] * (v.dim() - 1))), new[k], v) for k, v in old.items()}
