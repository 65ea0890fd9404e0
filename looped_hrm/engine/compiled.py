"""``torch.compile`` for the segment step: two graphs, each compiled once, whatever comes after.

A run calls ``model.segment`` in two gradient modes: with gradient for the training step, and
without it for act_q's lookahead (the Q-continue target) and for evaluation. Left to itself,
dynamo recompiles whenever something it guarded on changes: the gradient mode (a different graph:
autograd), every new batch size (a first size is specialised; a second one triggers a dynamic
recompile, and a batch of 1 is specialised again), which is what evaluation does (its own batch
size, then a tail that shrinks row by row). On a GPU each of those costs 30 s or more.

So the compiled segment is built to be compiled exactly twice, deliberately:

* **training graph** (gradient on): static shapes, since training always runs the same number of
  slots; capturing it whole (``fullgraph``) lets the compiler fuse across the whole segment;
* **inference graph** (gradient off): the batch dimension of every input is marked *unbacked*
  (``mark_unbacked``: no 0/1 specialisation), so one graph serves the lookahead at the training
  batch, evaluation at its own batch and every size of the shrinking tail, down to 1. Should a
  backend fail to trace an unbacked size, the graph is traced again with a backed dynamic batch
  size (one warning; a batch of 1 then costs one more graph).

Models are shared by the runners of one process (the trainer's and the evaluation's), so the
compiled callable is cached per model: both use the same two graphs. A model whose segment cannot
be captured whole (data-dependent control flow, e.g. TRM with an inner halting rule that stops
rows early) falls back to ``fullgraph=False`` with one warning; it still runs compiled, in pieces.

`CompiledSegment.graphs` counts the graphs the backend compiled (recompilations included) and
``compile_s`` the wall time of the calls that compiled: `looped_hrm.commands.speed` reports both,
and the tests hold "no recompilation after warm-up" with them.
"""

from __future__ import annotations

import dataclasses
import time
import warnings
import weakref
from collections.abc import Callable
from typing import Any

import torch

from looped_hrm.contracts import ReasoningModel

_CACHE: weakref.WeakKeyDictionary[ReasoningModel, dict[str, CompiledSegment]] = weakref.WeakKeyDictionary()


# How the inference graph treats the batch dimension: unbacked first (one graph for every size);
# backed dynamic if a backend cannot trace that (sizes 0 and 1 then get graphs of their own).
_BATCH_MARKS: dict[str, Callable[[torch.Tensor, int], None]] = {
    "unbacked": torch._dynamo.decorators.mark_unbacked,
    "dynamic": torch._dynamo.maybe_mark_dynamic,
}


def _mark_batch(value: Any, mark: Callable[[torch.Tensor, int], None]) -> Any:
    """An alias of ``value`` (tensor, dict of tensors or dataclass of tensors) whose tensors have
    their first dimension marked by ``mark``. Aliases, so the caller's tensors stay unmarked."""
    if isinstance(value, torch.Tensor):
        alias = value.detach()
        if alias.dim() > 0:
            mark(alias, 0)
        return alias
    if isinstance(value, dict):
        return {k: _mark_batch(v, mark) for k, v in value.items()}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.replace(
            value, **{f.name: _mark_batch(getattr(value, f.name), mark) for f in dataclasses.fields(value) if f.init}
        )
    return value


class CompiledSegment:
    """``model.segment`` under ``torch.compile`` (see the module docstring). Use `compiled_segment`."""

    def __init__(self, model: ReasoningModel, backend: str | Callable = "inductor") -> None:
        self.graphs = 0
        self.compile_s = 0.0
        self.fullgraph = True
        self.inference_batch = "unbacked"  # or "dynamic" after a failed unbacked trace (see _BATCH_MARKS)
        self._inference_ready = False
        self.name = type(model).__name__
        inner_backend = torch._dynamo.lookup_backend(backend) if isinstance(backend, str) else backend

        def counting_backend(gm: torch.fx.GraphModule, example_inputs: list) -> Callable:
            self.graphs += 1
            return inner_backend(gm, example_inputs)

        segment: Callable = model.segment
        self._whole = torch.compile(segment, backend=counting_backend, fullgraph=True)
        self._pieces = torch.compile(segment, backend=counting_backend, fullgraph=False)

    def __call__(self, carry, batch, inner_halt=None):
        if torch.is_grad_enabled():
            return self._run(carry, batch, inner_halt)
        mark = _BATCH_MARKS[self.inference_batch]
        try:
            result = self._run(_mark_batch(carry, mark), _mark_batch(batch, mark), inner_halt)
        except Exception as exc:
            if self._inference_ready or self.inference_batch != "unbacked":
                raise
            self.inference_batch = "dynamic"
            warnings.warn(
                f"{self.name}.segment: no inference graph with an unbacked batch size "
                f"({type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}); "
                "using a dynamic batch size (batches of 1 then compile a graph of their own)",
                stacklevel=2,
            )
            mark = _BATCH_MARKS[self.inference_batch]
            result = self._run(_mark_batch(carry, mark), _mark_batch(batch, mark), inner_halt)
        self._inference_ready = True
        return result

    def _run(self, carry, batch, inner_halt):
        before, start = self.graphs, time.perf_counter()
        try:
            result = (self._whole if self.fullgraph else self._pieces)(carry, batch, inner_halt)
        except torch._dynamo.exc.Unsupported as exc:
            if not self.fullgraph:
                raise
            self.fullgraph = False
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            warnings.warn(
                f"{self.name}.segment cannot be compiled as one graph ({reason}); "
                "compiling it in pieces (fullgraph=False)",
                stacklevel=2,
            )
            result = self._pieces(carry, batch, inner_halt)
        if self.graphs != before:
            self.compile_s += time.perf_counter() - start
        return result


def compiled_segment(model: ReasoningModel, backend: str | Callable = "inductor") -> CompiledSegment:
    """The one compiled segment of ``model`` for ``backend`` in this process (created on first use)."""
    per_model = _CACHE.setdefault(model, {})
    key = backend if isinstance(backend, str) else f"{getattr(backend, '__name__', 'backend')}@{id(backend)}"
    if key not in per_model:
        per_model[key] = CompiledSegment(model, backend)
    return per_model[key]
