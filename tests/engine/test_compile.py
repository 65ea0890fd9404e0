"""torch.compile of the segment step: two graphs (with and without gradient) compiled during the
warm-up, no recompilation after it — across training steps, an evaluation pass at another batch
size and a tail of one row — and the same numbers as the eager model.

The capture tests use the ``aot_eager`` backend: dynamo's guards and graphs (what decides a
recompilation) and the autograd capture are the same as with inductor, without minutes of C++
code generation on a CPU; one test compiles with inductor for real.
"""

from __future__ import annotations

import pytest
import torch
from torch._dynamo.utils import counters

from looped_hrm.engine.compiled import compiled_segment
from looped_hrm.evaluation.evaluate import evaluate
from looped_hrm.experiment.speed import measure
from looped_hrm.training.config import TrainConfig
from looped_hrm.training.trainer import Trainer

from .builtins import MODELS, tiny_sudoku


def _unique_graphs() -> int:
    return int(counters["stats"]["unique_graphs"])


@pytest.mark.slow
@pytest.mark.parametrize("model, halting", MODELS)
def test_no_recompilation_after_warmup(model, halting):
    torch._dynamo.reset()
    task, net, policy = tiny_sudoku(model, halting)
    test = task.build("test")
    cfg = TrainConfig(
        steps=100, batch_size=8, compile=True, compile_backend="aot_eager", progress=False, max_segments=4
    )
    trainer = Trainer(net, policy, task, test, cfg, device=torch.device("cpu"), seed=0, workdir=None, progress=False)

    def eval_pass(rows: int, batch: int) -> None:
        evaluate(
            net,
            policy,
            task,
            test.subset(slice(0, rows)),
            mode="policy",
            max_segments=3,
            batch_size=batch,
            device=torch.device("cpu"),
            verify=False,
            runner=trainer.runner,
        )

    trainer.train_step()
    eval_pass(17, 16)  # warm-up: another batch size, then a tail of one row
    compiled = compiled_segment(net, "aot_eager")
    assert compiled.graphs == 2, "one training graph and one inference graph"
    assert compiled.fullgraph, f"{model}.segment no longer compiles as one graph"
    graphs = _unique_graphs()

    for _ in range(3):
        trainer.train_step()
    eval_pass(len(test), 24)  # yet another batch size and a tail of whatever is left
    eval_pass(1, 1)
    trainer.train_step()
    assert compiled.graphs == 2
    assert _unique_graphs() == graphs, "torch._dynamo compiled a new graph after the warm-up"


@pytest.mark.slow
def test_speed_reports_compile_time_and_zero_recompiles():
    """As on a GPU: bf16 autocast around the compiled segment (autocast state is part of the guards)."""
    torch._dynamo.reset()
    row = measure(
        "hrm",
        "sudoku",
        preset="tiny",
        task_preset="tiny",
        halting="act_q",
        batch=8,
        steps=2,
        warmup=1,
        compile=True,
        compile_backend="aot_eager",
        device="cpu",
        precision="bf16",
    )
    assert row["graphs_compiled"] == 2 and row["recompiles_after_warmup"] == 0 and row["fullgraph"]
    assert row["compile_s"] > 0


@pytest.mark.slow
def test_inductor_segment_matches_eager():
    """A real inductor compile of HRM's segment: logits, Q logits and gradients as in eager mode."""
    torch._dynamo.reset()
    task, net, _ = tiny_sudoku("hrm", "act_q")
    batch = task.build("test").batch(torch.arange(6))
    carry = net.initial_carry(batch)

    def run(fn):
        net.zero_grad(set_to_none=True)
        _, out = fn(carry, batch)
        (out.logits.square().mean() + out.q_halt.sum() + out.q_continue.sum()).backward()
        grads = {name: p.grad.clone() for name, p in net.named_parameters() if p.grad is not None}
        return out.logits.detach(), out.q_halt.detach(), grads

    eager = run(net.segment)
    compiled = run(compiled_segment(net))
    torch.testing.assert_close(compiled[0], eager[0], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(compiled[1], eager[1], rtol=1e-5, atol=1e-5)
    assert compiled[2].keys() == eager[2].keys() and eager[2]
    for name in eager[2]:
        torch.testing.assert_close(compiled[2][name], eager[2][name], rtol=1e-4, atol=1e-6, msg=name)
    with torch.no_grad():  # the inference graph, at another batch size
        small = task.build("test").batch(torch.arange(3))
        _, out_c = compiled_segment(net)(net.initial_carry(small), small)
        _, out_e = net.segment(net.initial_carry(small), small)
    torch.testing.assert_close(out_c.logits, out_e.logits, rtol=1e-5, atol=1e-5)
