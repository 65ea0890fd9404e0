"""Each halting policy's decision rule and loss on hand-made logits."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch
import torch.nn.functional as F

from looped_hrm.config import ConfigError
from looped_hrm.contracts import IGNORE_INDEX, HaltContext, SegmentOutput
from looped_hrm.engine.segment import segment_loss
from looped_hrm.nn.losses import get_loss
from looped_hrm.plugins.halting import looped_hrm_halting_policies
from looped_hrm.plugins.halting.act_bce import ActBceConfig, ActBcePolicy
from looped_hrm.plugins.halting.act_ponder import ActPonderConfig, ActPonderPolicy
from looped_hrm.plugins.halting.act_q import ActQConfig, ActQPolicy
from looped_hrm.plugins.halting.converged import ConvergedConfig, ConvergedPolicy
from looped_hrm.plugins.halting.fixed import FixedConfig, FixedPolicy
from looped_hrm.plugins.halting.oracle import OraclePolicy
from looped_hrm.plugins.halting.pondernet import PonderNetConfig, PonderNetPolicy, bernoulli_kl, prior_hazard
from looped_hrm.plugins.halting.two_level import TwoLevelConfig, TwoLevelPolicy
from looped_hrm.plugins.halting.verifier import VerifierConfig, VerifierPolicy
from looped_hrm.registry import get_registry
from looped_hrm.resolve import build_policy, resolve_combination

L, V = 3, 4


def output(q_halt, q_continue=None, logits=None, **kw) -> SegmentOutput:
    q_halt = torch.tensor(q_halt, dtype=torch.float32, requires_grad=True)
    if q_continue is not None:
        q_continue = torch.tensor(q_continue, dtype=torch.float32, requires_grad=True)
    if logits is None:
        logits = torch.zeros(len(q_halt), L, V)
    return SegmentOutput(logits=logits, q_halt=q_halt, q_continue=q_continue, **kw)


def context(
    correct, steps, *, lm=None, max_steps=4, training=False, next_output=None, next_lm=None, verify=None, labels=None
) -> HaltContext:
    b = len(correct)
    lm = torch.tensor(lm if lm is not None else [1.0] * b)
    labels = labels if labels is not None else torch.ones(b, L, dtype=torch.int64)
    return HaltContext(
        inputs=torch.zeros(b, L, dtype=torch.int64),
        labels=labels,
        predictions=torch.ones(b, L, dtype=torch.int64),
        lm_loss=lm,
        correct=torch.tensor(correct),
        steps=torch.tensor(steps),
        max_steps=max_steps,
        training=training,
        generator=torch.Generator().manual_seed(0),
        next_output=next_output,
        next_lm_loss=next_lm,
        verify=verify,
    )


def bce(logit: float, target: float) -> float:
    return F.binary_cross_entropy_with_logits(torch.tensor(float(logit)), torch.tensor(float(target))).item()


def test_hook_registers_every_policy_once():
    names = [spec.name for spec in looped_hrm_halting_policies()]
    assert names == [
        "fixed",
        "act_q",
        "act_bce",
        "act_ponder",
        "pondernet",
        "two_level",
        "verifier",
        "converged",
        "oracle",
    ]
    registry = get_registry()
    for name in names:
        spec = registry.get("halting", name)
        policy = build_policy(name)  # as a run builds it (a policy that wraps another gets it built)
        assert policy.name == name
        for preset in spec.presets:
            build_policy(name, preset)


def test_fixed_never_asks_to_stop_and_loss_is_the_task_loss():
    ctx = context([True, False], [1, 3])
    d = FixedPolicy().step(output([9.0, 9.0]), {}, ctx)
    assert d.halt.tolist() == [False, False]
    assert d.loss is None and d.task_weight is None  # no halting term: the segment's loss is the engine's task loss
    assert segment_loss(ctx.lm_loss, d).item() == pytest.approx(2.0)
    d = FixedPolicy(FixedConfig(segments=3)).step(output([0.0, 0.0]), {}, ctx)
    assert d.halt.tolist() == [False, True]
    with pytest.raises(ValueError, match="segments"):
        FixedConfig(segments=0)


def test_act_q_halts_when_q_halt_beats_q_continue():
    policy = ActQPolicy()
    d = policy.step(output([1.0, -1.0, 0.5], [0.0, 0.0, 2.0]), {}, context([True, False, True], [1, 1, 1]))
    assert d.halt.tolist() == [True, False, False]


def test_act_q_loss_uses_bootstrapped_continue_target():
    policy = ActQPolicy(ActQConfig(exploration_prob=0.0))
    nxt = output([2.0, 2.0], [3.0, 3.0])
    out = output([0.5, -0.5], [0.1, 0.2])
    ctx = context([True, False], [2, 4], lm=[1.0, 2.0], max_steps=4, training=True, next_output=nxt)
    d = policy.step(out, {}, ctx)
    # row 0 is not on its last segment: target = sigmoid(max(2, 3)); row 1 is: target = sigmoid(next_q_halt = 2)
    t0, t1 = 1 / (1 + math.exp(-3.0)), 1 / (1 + math.exp(-2.0))
    expected = 0.5 * (bce(0.5, 1) + bce(-0.5, 0) + bce(0.1, t0) + bce(0.2, t1))  # the halting term only
    assert d.loss.item() == pytest.approx(expected, rel=1e-5)
    d.loss.backward()
    assert out.q_halt.grad is not None and out.q_continue.grad is not None
    assert d.metrics["q_halt_accuracy"].item() == 2  # (0.5 >= 0) == True, (-0.5 >= 0) == False


def test_act_q_without_lookahead_has_no_continue_loss():
    d = ActQPolicy().step(output([0.0], [0.0]), {}, context([False], [1], lm=[1.0]))
    assert d.loss.item() == pytest.approx(0.5 * bce(0.0, 0))


def test_act_q_exploration_imposes_a_minimum_in_training_only():
    policy = ActQPolicy(ActQConfig(exploration_prob=1.0))
    out = output([5.0] * 64, [0.0] * 64)
    train = policy.step(out, {}, context([True] * 64, [1] * 64, max_steps=16, training=True))
    assert not train.halt.any()  # every floor is >= 2 > 1 segment
    late = policy.step(out, {}, context([True] * 64, [16] * 64, max_steps=16, training=True))
    assert late.halt.all()
    assert policy.step(out, {}, context([True] * 64, [1] * 64, max_steps=16)).halt.all()


def test_act_bce_threshold_and_loss():
    policy = ActBcePolicy(ActBceConfig(exploration_prob=0.0))
    d = policy.step(output([0.1, -0.1]), {}, context([True, True], [1, 1], lm=[0.5, 0.5]))
    assert d.halt.tolist() == [True, False]
    assert d.loss.item() == pytest.approx(0.5 * (bce(0.1, 1) + bce(-0.1, 1)), rel=1e-6)
    strict = ActBcePolicy(ActBceConfig(threshold=0.9, exploration_prob=0.0))
    assert strict.step(output([2.0, 2.5]), {}, context([True, True], [1, 1])).halt.tolist() == [False, True]


def test_act_ponder_cumulative_threshold_remainder_and_gradient():
    tau = 0.1
    policy = ActPonderPolicy(ActPonderConfig(epsilon=0.01, tau=tau))
    # three rows: already 0.5 accumulated; q_halt gives h = 0.6 / 0.3 / 0.3; row 2 is at the cap
    logit = lambda p: math.log(p / (1 - p))  # noqa: E731
    out = output([logit(0.6), logit(0.3), logit(0.3)])
    next_logits = torch.zeros(3, L, V)
    next_logits[:, :, 1] = 5.0  # the next segment is nearly perfect: L_next ~ 0
    nxt = SegmentOutput(logits=next_logits)
    next_lm = get_loss("softmax")(next_logits, torch.ones(3, L, dtype=torch.int64))  # the engine's loss of it
    ctx = context(
        [False] * 3, [2, 2, 4], lm=[1.0, 1.0, 1.0], max_steps=4, training=True, next_output=nxt, next_lm=next_lm
    )
    state = {"cum": torch.tensor([0.5, 0.5, 0.5])}
    d = policy.step(out, state, ctx)
    assert d.halt.tolist() == [True, False, False]  # 0.5 + 0.6 >= 0.99; 0.5 + 0.3 < 0.99
    assert d.state["cum"].tolist() == pytest.approx([1.1, 0.8, 0.8])
    # ponder cost of the final rows: tau * (N + R), R = 1 - cum = 0.5 (row 0 halts, row 2 hits the cap)
    assert d.metrics["ponder_cost"].item() == pytest.approx(tau * ((2 + 0.5) + (4 + 0.5)))
    d.loss.backward()
    grad_h = out.q_halt.grad / (torch.tensor([0.6, 0.3, 0.3]) * torch.tensor([0.4, 0.7, 0.7]))  # dh/dlogit
    next_loss = F.cross_entropy(next_logits[1].unsqueeze(0).transpose(1, 2), torch.ones(1, L, dtype=torch.int64)).item()
    assert grad_h[0].item() == pytest.approx(0.0, abs=1e-6)  # h_N does not enter N + R
    assert grad_h[1].item() == pytest.approx(1.0 - next_loss - tau, rel=1e-4)  # L_n - L_{n+1} - tau
    assert grad_h[2].item() == pytest.approx(0.0, abs=1e-6)


def test_pondernet_kl_terms_sum_to_the_full_kl():
    """The per-segment terms S_n * KL(Bern(lambda_n) || Bern(g_n)) add up to KL(p || truncated geometric)."""
    cfg = PonderNetConfig(lambda_p=0.3, beta=1.0, task_weighting="uniform")
    policy = PonderNetPolicy(cfg)
    max_steps = 5
    lambdas = [0.1, 0.4, 0.2, 0.7, 0.5]
    state = policy.init_state(1, torch.device("cpu"))
    kl_sum = 0.0
    for n, lam in enumerate(lambdas, start=1):
        d = policy.step(
            output([math.log(lam / (1 - lam))]),
            state,
            context([False], [n], lm=[0.0], max_steps=max_steps, training=True),
        )
        kl_sum += d.metrics["kl"].item()
        state = d.state
    p, survive = [], 1.0
    for n, lam in enumerate(lambdas, start=1):
        lam = 1.0 if n == max_steps else lam
        p.append(survive * lam)
        survive *= 1 - lam
    g = [(1 - cfg.lambda_p) ** (n - 1) * cfg.lambda_p for n in range(1, max_steps + 1)]
    g = [x / sum(g) for x in g]
    full = sum(pi * math.log(pi / gi) for pi, gi in zip(p, g))
    assert kl_sum == pytest.approx(full, rel=1e-4)
    assert prior_hazard(torch.tensor([max_steps]), max_steps, 0.3).item() == pytest.approx(1.0)
    assert bernoulli_kl(torch.tensor(0.3), torch.tensor(0.3)).item() == pytest.approx(0.0, abs=1e-7)


def test_pondernet_weights_the_task_loss_by_the_halting_distribution_and_never_halts_in_training():
    policy = PonderNetPolicy(PonderNetConfig(beta=0.0))
    lam = 0.25
    ctx = context([False, False], [1, 4], lm=[2.0, 2.0], max_steps=4, training=True)
    d = policy.step(output([math.log(lam / (1 - lam))] * 2), {"survive": torch.tensor([1.0, 0.5])}, ctx)
    assert not d.halt.any()
    # row 0: p = 1 * 0.25; row 1 is the last segment: lambda := 1, p = 0.5; the engine weights its task loss by p
    assert d.task_weight.tolist() == pytest.approx([0.25, 0.5]) and not d.task_weight.requires_grad
    assert segment_loss(ctx.lm_loss, d).item() == pytest.approx(2.0 * 0.25 + 2.0 * 0.5)
    uniform = PonderNetPolicy(PonderNetConfig(beta=0.0, task_weighting="uniform"))
    assert uniform.step(output([0.0] * 2), {"survive": torch.ones(2)}, ctx).task_weight is None
    assert d.state["survive"].tolist() == pytest.approx([0.75, 0.375])


def test_pondernet_evaluation_rules():
    median = PonderNetPolicy(PonderNetConfig(eval_rule="median"))
    ctx = context([False, False], [2, 2])
    d = median.step(output([0.0, 0.0]), {"survive": torch.tensor([1.0, 0.8])}, ctx)
    # cumulative halting probability after this segment: 1 - S * (1 - 0.5) = 0.5 / 0.6
    assert d.halt.tolist() == [True, True]
    d = median.step(output([-3.0, -3.0]), {"survive": torch.tensor([1.0, 0.5])}, ctx)
    assert d.halt.tolist() == [False, True]
    sample = PonderNetPolicy(PonderNetConfig(eval_rule="sample"))
    sure = sample.step(output([20.0, -20.0]), {"survive": torch.ones(2)}, ctx)
    assert sure.halt.tolist() == [True, False]


def test_two_level_inner_rule_and_inner_loss():
    policy = TwoLevelPolicy(
        TwoLevelConfig(
            min_inner_steps=2,
            exploration_prob=0.0,
            compute_penalty=0.0,
            inner_compute_penalty=0.0,
            inner_loss_weight=1.0,
            q_loss_weight=1.0,
        )
    )
    stop = policy.inner_halt(training=False)
    logits = torch.tensor([3.0, -3.0])
    assert stop(1, logits).tolist() == [False, False]  # below min_inner_steps
    assert stop(2, logits).tolist() == [True, False]
    labels = torch.tensor([[1, 2, IGNORE_INDEX], [1, 1, 1]])
    inner_preds = torch.tensor(
        [
            [[0, 2, 0], [1, 2, 3]],  # row 0: wrong, then right (position 2 is not scored)
            [[1, 1, 1], [0, 0, 0]],
        ]
    )  # row 1 ran one inner step only
    inner_logits = torch.tensor([[0.2, 0.4], [1.0, 9.0]], requires_grad=True)
    out = output([0.0, 0.0], inner_halt_logits=inner_logits, inner_preds=inner_preds, inner_steps=torch.tensor([2, 1]))
    ctx = context([True, True], [1, 1], lm=[0.0, 0.0], labels=labels)
    d = policy.step(out, {}, ctx)
    inner = (bce(0.2, 0) + bce(0.4, 1)) / 2 + bce(1.0, 1)  # the step row 1 did not run is masked
    assert d.loss.item() == pytest.approx(2 * bce(0.0, 1) + inner, rel=1e-5)
    d.loss.backward()
    assert inner_logits.grad[1, 1].item() == 0.0


def test_two_level_compute_penalty_pulls_halting_up():
    cfg = dict(exploration_prob=0.0, q_loss_weight=0.0)
    free = TwoLevelPolicy(TwoLevelConfig(compute_penalty=0.0, **cfg))
    taxed = TwoLevelPolicy(TwoLevelConfig(compute_penalty=1.0, **cfg))
    for policy, sign in ((free, 0), (taxed, -1)):
        out = output([0.0])
        policy.step(out, {}, context([False], [1], lm=[0.0])).loss.backward()
        grad = out.q_halt.grad.item()
        assert (grad < 0) if sign else grad == 0.0  # descending the loss raises q_halt


def test_two_level_runs_on_a_model_without_an_inner_level():
    policy = TwoLevelPolicy()
    assert "inner" in policy.optional_levels
    d = policy.step(output([1.0]), {}, context([True], [1]))
    assert d.halt.tolist() == [True] and "inner_halt_loss" not in d.metrics


def test_verifier_halts_exactly_when_the_rules_accept():
    policy = build_policy("verifier", config={"fallback": "act_bce", "fallback_config": {"exploration_prob": 0.0}})
    accept = lambda preds, inputs: torch.tensor([True, False])  # noqa: E731
    out = output([-9.0, 9.0])
    d = policy.step(out, {}, context([False, True], [1, 1], verify=accept))
    assert d.halt.tolist() == [True, False]  # the learned head is ignored where a verifier exists
    either = build_policy("verifier", config={"combine": "or", "fallback_config": {"exploration_prob": 0.0}})
    assert either.step(out, {}, context([False, True], [1, 1], verify=accept)).halt.tolist() == [True, True]
    # no verifier (or training): the fallback decides, and its loss is always the loss
    alone = policy.step(out, {}, context([False, True], [1, 1]))
    assert alone.halt.tolist() == [False, True]
    assert d.loss.item() == pytest.approx(alone.loss.item())
    assert policy.step(out, {}, context([False, True], [1, 1], verify=accept, training=True)).halt.tolist() == [
        False,
        True,
    ]


def test_verifier_rejects_an_unknown_fallback():
    with pytest.raises(Exception, match="did you mean 'act_bce'"):
        build_policy("verifier", config={"fallback": "act_bc"})
    with pytest.raises(ConfigError, match="fallback_config.exploration_prb: unknown key"):
        build_policy("verifier", config={"fallback_config": {"exploration_prb": 0.1}})


def test_the_verifier_fallback_is_resolved_by_the_host_and_part_of_the_key():
    """The fallback is resolved like any policy: its version and revision are in the combination, so
    a changed fallback is a new key; the plugin gets it built and never asks the registry."""
    combo = resolve_combination("parity", "hrm", "verifier", preset="tiny", train={"steps": 3})
    fallback = combo.halting["wraps"]
    assert fallback["plugin"] == "act_bce" and {"version", "revision", "config"} <= fallback.keys()
    revised = dataclasses.replace(combo, halting={**combo.halting, "wraps": {**fallback, "revision": 99}})
    assert revised.key != combo.key
    policy = combo.build().policy
    assert isinstance(policy, VerifierPolicy) and policy.fallback.name == "act_bce"
    with pytest.raises(TypeError, match="fallback"):
        VerifierPolicy(VerifierConfig())  # only the host builds it, with its fallback


def test_oracle_stops_when_correct_and_says_it_reads_labels():
    policy = OraclePolicy()
    assert policy.uses_labels and "upper bound" in policy.describe()
    ctx = context([True, False], [1, 1], lm=[1.0, 3.0])
    d = policy.step(output([0.0, 0.0]), {}, ctx)
    assert d.halt.tolist() == [True, False] and segment_loss(ctx.lm_loss, d).item() == pytest.approx(4.0)


def answers(*rows) -> HaltContext:
    """A context whose predictions are ``rows`` (lists of token ids), none of them correct."""
    preds = torch.tensor(rows)
    return dataclasses.replace(context([False] * len(rows), [1] * len(rows)), predictions=preds, inputs=preds * 0)


def test_converged_halts_once_the_answer_repeats_and_reads_no_label():
    policy = ConvergedPolicy()
    assert not policy.uses_labels and not policy.needs_q_head and not policy.runs_to_cap
    state = policy.init_state(3, torch.device("cpu"))
    d = policy.step(output([0.0] * 3), state, answers([1, 2, 3], [0, 0, 0], [3, 3, 1]))
    assert d.halt.tolist() == [False, False, False]  # nothing to compare the first answer with
    assert d.loss is None and d.task_weight is None  # no halting term, no head
    d = policy.step(output([0.0] * 3), d.state, answers([1, 2, 3], [0, 0, 1], [3, 3, 1]))
    assert d.halt.tolist() == [True, False, True] and d.metrics["answer_unchanged"].item() == 2.0


def test_converged_patience_counts_unchanged_segments_in_a_row():
    policy = ConvergedPolicy(ConvergedConfig(patience=2))
    state = policy.init_state(2, torch.device("cpu"))
    halts = []
    for a, b in [([1, 1], [2, 2]), ([1, 1], [2, 0]), ([1, 1], [2, 2]), ([1, 1], [2, 2]), ([1, 1], [2, 2])]:
        d = policy.step(output([0.0, 0.0]), state, answers(a, b))
        state = d.state
        halts.append(d.halt.tolist())
    # row 0 never changes: unchanged after segments 2 and 3; row 1 changes at 2 and 3, then holds
    assert halts == [[False, False], [False, False], [True, False], [True, False], [True, True]]
    with pytest.raises(ValueError, match="patience"):
        ConvergedConfig(patience=0)


def test_converged_fingerprints_tell_answers_apart_at_any_length():
    policy = ConvergedPolicy()
    g = torch.Generator().manual_seed(0)
    for length in (1, 7, 4489):  # up to a 67x67 maze grid
        preds = torch.randint(0, 6, (64, length), generator=g)
        prints = policy.fingerprint(preds)
        assert (prints >= 0).all() and torch.equal(prints, policy.fingerprint(preds.clone()))
        distinct = {tuple(row) for row in preds.tolist()}
        assert len(set(prints.tolist())) == len(distinct)
        changed = preds.clone()
        changed[:, -1] = (changed[:, -1] + 1) % 6  # one token of each row differs
        assert (policy.fingerprint(changed) != prints).all()
