"""DeepThinking networks with recall (``dt_net``): a recurrent convolutional net that solves larger
problems than it was trained on by thinking for more iterations.

Schwarzschild et al., "Can You Learn an Algorithm?" (NeurIPS 2021) and Bansal et al., "End-to-end
Algorithm Synthesis with Recurrent Networks" (NeurIPS 2022); official code github.com/aks2203/deep-thinking
(``dt_net_recall_1d`` / ``dt_net_recall_2d``). The layer layout is theirs:

    x       = the input as channels (here: one-hot tokens, [B, V, L] or [B, V, H, W])
    φ_0     = relu(conv(x))                                      projection
    φ_t     = blocks(recall(cat[φ_{t-1}, x]))                    one iteration (recall: conv, + relu in 1-D)
    logits  = conv(relu(conv(relu(conv(φ_T)))))                  head: width→width→width/2→V (1-D),
                                                                       width→32→8→V (2-D)

with ``blocks`` = two ResNet basic blocks (`looped_hrm.nn.conv`), every convolution 3-wide and
bias-free. Without ``recall`` the iteration is ``blocks(φ_{t-1})``. The asymmetries (a relu after the
recall convolution in 1-D only, the fixed 2-D head widths) are the official code's.

**Segments and iterations.** A segment runs ``iterations`` recurrent iterations — the official
``max_iters`` (30), the unrolled depth one training step backpropagates through — so one training
step of this suite (one segment, ``train.max_segments: 1``) is one training step of the official
code, and the carry holds the thought ``φ``. Testing with more iterations is running more segments:
``eval.fixed_segments: 10`` runs 300 iterations, exactly the official ``net(x, iters_to_do=300)``.
A segment of one iteration would not do: the engine detaches the carry between segments, so
training could no longer backpropagate through the unrolled iterations, which is the method. The
iterations inside a segment are its inner steps: in evaluation the prediction after every one is
recorded (``SegmentOutput.inner_preds``), for accuracy against every iteration count.

**Progressive loss** (``alpha``). In training a segment also returns an auxiliary prediction
(``SegmentOutput.aux_logits``): from the segment's start, ``n ~ U{0..T−1}`` iterations without
gradient, then ``k ~ U{1..T−n}`` with gradient (one draw per batch, from torch's global generator);
the engine trains ``(1 − alpha)·loss(T iterations) + alpha·loss(n + k iterations)``. Official values:
1 for prefix sums, 0.01 for mazes (``None`` picks them by layout), 0 turns it off.

**Given cells** (``mask_given``). Where the task declares tokens that every answer reproduces
(`TaskInfo.given_tokens`: a maze's walls, start and goal), those cells are predicted as given and
carry no loss — the official maze code's loss and prediction masks. The net learns only the open
cells; without them (``mask_given: false``) it must also learn to copy the walls, and on 5x5-cell
mazes it extrapolated worse (two seeds, otherwise alike: 0 and 42 % of 17x17 mazes at the peak,
against 44 and 94 % with the masks; docs/extrapolation.md).

**Learning rate** (``lr_throttle``). The official maze recipe trains the recurrent block (recall
convolution and blocks) at ``lr / max_iters``, to keep training stable, the rest at ``lr``;
``lr_throttle: true`` does the same through the optional ``lr_scales`` hook, on whatever schedule
``train:`` sets. Off by default (the official prefix-sums recipe, and the maze benchmark here).

**Halting** (an addition: the official nets run a set number of iterations). A linear head on the
thought averaged over positions gives the halt/continue logits after each segment (weight 0, bias
−5, as every model's Q head here), so learned halting policies such as ``act_bce`` can decide when
DT stops — the question the extrapolation protocol asks of every model. It reads the thought and
changes nothing else: under ``fixed`` halting it gets no gradient and training is the official
one; its 2·width + 2 parameters are the only difference from the official parameter count.

The input is one-hot tokens (the official nets read the raw bits as one float channel, or an RGB
picture of a maze) and the head predicts every token of the vocabulary (officially two classes per
position). Grids are 2-D when the task says its sequences are grids (`TaskInfo.grid`); at a size
other than the training one a grid must be square (its side is read from the length).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from looped_hrm import hookimpl
from looped_hrm.contracts import Batch, Carry, ComputeProfile, InnerHalt, ModelSpec, SegmentOutput, TaskInfo
from looped_hrm.nn.conv import BasicBlock, conv, conv_flops
from looped_hrm.nn.flops import Flops, linear_flops
from looped_hrm.nn.sequence_io import Q_HEAD_BIAS

OFFICIAL_WIDTH = {1: 400, 2: 128}  # prefix sums (dt_net_recall_1d.yaml) and mazes (problem/mazes.yaml)
OFFICIAL_ALPHA = {1: 1.0, 2: 0.01}  # hyp/prefix_sums_default.yaml, hyp/mazes_default.yaml
HEAD_2D = (32, 8)


@dataclass
class DTNetConfig:
    width: int | None = None  # channels of the thought; None: the official width for the layout (1-D 400, 2-D 128)
    dims: int | None = None  # 1 or 2; None: 2 when the task's sequences are grids (TaskInfo.grid), else 1
    recall: bool = True  # concatenate the input to the thought at every iteration
    blocks: int = 2  # ResNet basic blocks per iteration (official: 2)
    iterations: int = 30  # recurrent iterations per segment: the official max_iters (the training unroll)
    alpha: float | None = None  # progressive-loss weight; None: official per layout (1-D 1.0, 2-D 0.01); 0: off
    mask_given: bool = True  # the task's given cells (TaskInfo.given_tokens) predicted as given, no loss there
    lr_throttle: bool = False  # official maze option: recall conv and blocks learn at lr / iterations

    def __post_init__(self) -> None:
        if self.width is not None and self.width < 2:
            raise ValueError(f"width must be >= 2, got {self.width}")
        if self.dims not in (None, 1, 2):
            raise ValueError(f"dims must be 1, 2 or null (from the task), got {self.dims}")
        for name in ("blocks", "iterations"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.alpha is not None and not 0.0 <= self.alpha <= 1.0:
            raise ValueError(f"alpha must be in [0, 1] or null (the official value), got {self.alpha}")


class DTCore(nn.Module):
    """The DeepThinking network on float channels: projection, recurrent module, head.

    Separate from the token model (`DTNet`) so that it can be built with any input and output channels
    (the official 1-D net reads one channel and predicts two classes).
    """

    def __init__(
        self, dims: int, in_channels: int, out_channels: int, width: int, *, recall: bool = True, blocks: int = 2
    ) -> None:
        super().__init__()
        self.dims, self.width = dims, width
        self.projection = conv(dims, in_channels, width)
        self.recall = conv(dims, width + in_channels, width) if recall else None
        self.blocks = nn.Sequential(*[BasicBlock(dims, width) for _ in range(blocks)])
        hidden = (width, width // 2) if dims == 1 else HEAD_2D
        self.head = nn.Sequential(
            conv(dims, width, hidden[0]),
            nn.ReLU(),
            conv(dims, hidden[0], hidden[1]),
            nn.ReLU(),
            conv(dims, hidden[1], out_channels),
        )

    def project(self, x: torch.Tensor) -> torch.Tensor:
        """The initial thought φ_0."""
        return F.relu(self.projection(x))

    def think(self, thought: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """One iteration: φ_t from φ_{t−1} and the input."""
        if self.recall is not None:
            thought = self.recall(torch.cat([thought, x], 1))
            if self.dims == 1:
                thought = F.relu(thought)
        return self.blocks(thought)

    def iterate(self, thought: torch.Tensor, x: torch.Tensor, steps: int) -> torch.Tensor:
        for _ in range(steps):
            thought = self.think(thought, x)
        return thought

    def iteration_flops(self, positions: int) -> Flops:
        recall = conv_flops(self.recall, positions) if self.recall is not None else Flops()
        return recall + sum((b.flops(positions) for b in self.blocks if isinstance(b, BasicBlock)), Flops())

    def projection_flops(self, positions: int) -> Flops:
        return conv_flops(self.projection, positions)

    def head_flops(self, positions: int) -> Flops:
        return sum((conv_flops(m, positions) for m in self.head if isinstance(m, nn.Conv1d | nn.Conv2d)), Flops())


class DTNet(nn.Module):
    """``dt_net`` as a ReasoningModel: one-hot tokens in, token logits out (see the module docstring)."""

    config: DTNetConfig
    halting_levels: frozenset[str] = frozenset({"segment"})

    def __init__(self, config: DTNetConfig, task: TaskInfo) -> None:
        super().__init__()
        dims = config.dims or (2 if task.grid is not None else 1)
        if dims == 2 and task.grid is None:
            raise ValueError("dt_net: dims 2 needs a task whose sequences are grids (TaskInfo.grid); this one is 1-D")
        self.config, self.task, self.dims = config, task, dims
        self.width = config.width or OFFICIAL_WIDTH[dims]
        self.alpha = OFFICIAL_ALPHA[dims] if config.alpha is None else config.alpha
        self.core = DTCore(
            dims, task.vocab_size, task.vocab_size, self.width, recall=config.recall, blocks=config.blocks
        )
        self.halt = nn.Linear(self.width, 2)  # halt / continue logits from the position-averaged thought
        with torch.no_grad():
            self.halt.weight.zero_()
            self.halt.bias.fill_(Q_HEAD_BIAS)

    # ----------------------------------------------------------------------------- layout

    def spatial(self, length: int) -> tuple[int, ...]:
        """The spatial shape of a sequence of ``length`` tokens: ``(L,)`` or a grid ``(H, W)``."""
        grid = self.task.grid_at(length) if self.dims == 2 else None
        return (length,) if grid is None else grid

    def length_problem(self, length: int) -> str | None:
        """Why this model cannot run sequences of ``length`` tokens (None: it can)."""
        try:
            self.spatial(length)
        except ValueError as exc:
            return f"dt_net: {exc}"
        return None

    def lr_scales(self) -> list[tuple[float, list[nn.Parameter]]]:
        """With ``lr_throttle``, the recurrent block — the parameters the official code names
        ``recur`` (recall convolution and basic blocks) — learns at 1/``iterations`` of the rate (the
        official ``lr / max_iters``); projection, head and halting head at the full rate."""
        if not self.config.lr_throttle:
            return []
        recur = [
            *(self.core.recall.parameters() if self.core.recall is not None else ()),
            *self.core.blocks.parameters(),
        ]
        return [(1.0 / self.config.iterations, recur)]

    def encode(self, inputs: torch.Tensor) -> torch.Tensor:
        """``[B, L]`` tokens -> one-hot channels ``[B, V, *spatial]`` (float32)."""
        x = F.one_hot(inputs, self.task.vocab_size).to(torch.float32).transpose(1, 2)
        return x.reshape(*x.shape[:2], *self.spatial(inputs.shape[1])).contiguous()  # NCHW, as a data loader gives

    def logits(self, head: torch.Tensor) -> torch.Tensor:
        """Head output ``[B, V, *spatial]`` -> ``[B, L, V]`` float32."""
        return head.flatten(2).transpose(1, 2).float()

    def given_cells(self, inputs: torch.Tensor) -> torch.Tensor | None:
        """``[B, L]`` True where the input is a given token (`TaskInfo.given_tokens`); None when the
        masks are off or the task declares none. Computed once per segment, used by `keep_given`."""
        if not (self.config.mask_given and self.task.given_tokens):
            return None
        return torch.isin(inputs, torch.tensor(self.task.given_tokens, device=inputs.device))

    @staticmethod
    def keep_given(logits: torch.Tensor, inputs: torch.Tensor, given: torch.Tensor | None) -> torch.Tensor:
        """``logits`` ``[B, L, V]`` with every given cell predicting its input token for certain: logit
        0 for it, −100 for the rest, constants, so those cells add nothing to the loss (under 1e-42
        each) or its gradient. The official maze masks: the loss over the open cells alone and the
        prediction multiplied by the mask (``problem == "mazes"`` in ``train_progressive`` and
        ``get_predicted``); the loss here is still averaged over all cells, which scales it by each
        maze's share of open cells."""
        if given is None:
            return logits
        certain = (F.one_hot(inputs, logits.shape[-1]).to(logits.dtype) - 1) * 100.0
        return torch.where(given.unsqueeze(-1), certain, logits)

    # --------------------------------------------------------------------------- contract

    def initial_carry(self, batch: Batch) -> Carry:
        b, length = batch.inputs.shape
        device = batch.inputs.device
        return {
            "thought": torch.zeros(b, self.width, *self.spatial(length), device=device),
            "started": torch.zeros(b, dtype=torch.bool, device=device),  # False: start from the projection
        }

    def segment(self, carry: Carry, batch: Batch, inner_halt: InnerHalt | None = None) -> tuple[Carry, SegmentOutput]:
        core, steps = self.core, self.config.iterations
        x = self.encode(batch.inputs)
        given = self.given_cells(batch.inputs)
        started = carry["started"].view(-1, *[1] * (x.dim() - 1))
        start = torch.where(started, carry["thought"], core.project(x))  # φ_0 with gradient for fresh rows

        aux_logits = None
        if self.training and self.alpha > 0:
            n = int(torch.randint(0, steps, ()))
            k = int(torch.randint(1, steps - n + 1, ()))
            with torch.no_grad():
                middle = core.iterate(start, x, n) if n else None
            aux_logits = self.keep_given(
                self.logits(core.head(core.iterate(start if middle is None else middle, x, k))), batch.inputs, given
            )

        thought, preds, residuals = start, None, None
        if self.training:
            thought = core.iterate(thought, x, steps)
            head = core.head(thought)
        else:  # record the prediction and the update size after every iteration
            preds = torch.empty(x.shape[0], steps, batch.inputs.shape[1], dtype=torch.int64, device=x.device)
            residuals = torch.empty(x.shape[0], steps, device=x.device)
            for i in range(steps):
                new = core.think(thought, x)
                residuals[:, i] = (new - thought).flatten(1).norm(dim=1)
                thought = new
                head = core.head(thought)
                pred = head.flatten(2).argmax(1)
                preds[:, i] = pred if given is None else torch.where(given, batch.inputs, pred)
        positions = batch.inputs.shape[1]
        flops = self.segment_flops(positions).forward
        q = self.halt(thought.flatten(2).mean(-1)).float()
        output = SegmentOutput(
            logits=self.keep_given(self.logits(head), batch.inputs, given),
            q_halt=q[:, 0],
            q_continue=q[:, 1],
            inner_steps=torch.full((x.shape[0],), steps, dtype=torch.int64, device=x.device),
            inner_preds=preds,
            flops=torch.full((x.shape[0],), flops, device=x.device),
            residuals={"thought": residuals} if residuals is not None else {},
            states={"thought": thought.detach().flatten(2).transpose(1, 2)},
            aux_logits=aux_logits,
            aux_weight=self.alpha if aux_logits is not None else 0.0,
        )
        carry = {"thought": thought.detach(), "started": torch.ones_like(carry["started"])}
        return carry, output

    def segment_flops(self, positions: int) -> Flops:
        """One segment's forward at ``positions`` tokens (the per-iteration read-outs recorded in
        evaluation are instrumentation and not counted)."""
        core = self.core
        return (
            core.projection_flops(positions)
            + self.config.iterations * core.iteration_flops(positions)
            + core.head_flops(positions)
            + linear_flops(1, self.width, 2)  # the halting head
        )

    def compute_profile(self) -> ComputeProfile:
        core, steps, alpha = self.core, self.config.iterations, self.alpha
        positions = self.task.seq_len
        main = self.segment_flops(positions)
        train = main.forward + (main.backward if alpha < 1 else 0.0)
        if alpha > 0:  # E[n + k] = (3T + 1)/4 iterations forward, E[k] = (T + 3)/4 backward
            step, head = core.iteration_flops(positions), core.head_flops(positions)
            train += ((3 * steps + 1) / 4 * step + head).forward + ((steps + 3) / 4 * step + head).backward
        convs = 2 * self.config.blocks + (1 if self.config.recall else 0)
        return ComputeProfile(
            trainable_params=self.trainable_params(),
            effective_depth=1 + steps * convs + 3,
            gradient_depth=1 + steps * convs + 3,
            forward_flops=main.forward,
            train_flops=train,
            inner_steps=steps,
            notes=(
                f"{self.dims}-D convolutional net, width {self.width}, {steps} iterations per segment of "
                f"{convs} convolutions each; depths count convolutions; full backpropagation through the "
                f"unrolled iterations{f', progressive loss alpha {alpha}' if alpha > 0 else ''}"
            ),
        )

    def trainable_params(self) -> int:
        return sum(p.numel() for p in self.parameters() if p.requires_grad)

    def puzzle_embedding_parameters(self) -> list[nn.Parameter]:
        return []


SPEC = ModelSpec(
    name="dt_net",
    factory=DTNet,
    config=DTNetConfig,
    description="DeepThinking recurrent conv net with recall (1-D or 2-D) and the progressive loss; runs at any size",
    default_halting="fixed",  # DeepThinking runs a set number of iterations
    default_loss="softmax",  # the official cross-entropy (under stablemax it sat at chance, then diverged)
    presets={
        "tiny": dict(width=16, iterations=6),
        "small": dict(width=32, iterations=30),
        "paper": {},  # the official widths and alphas by layout, 30 iterations
    },
)


@hookimpl
def looped_hrm_models() -> list[ModelSpec]:
    return [SPEC]
