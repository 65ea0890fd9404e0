"""Arithmetic proofs: layout, label-free verifier, bans on trivial proofs, proof statistics, cache."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from looped_hrm.config import ConfigError, plugin_config
from looped_hrm.contracts import Split, Task
from looped_hrm.plugins.tasks.arith_proof import BLANK, DIGIT0, PAD, ArithProofTask, Layout
from looped_hrm.registry import get_registry


def make(preset: str = "tiny", **overrides) -> ArithProofTask:
    spec = get_registry().get("task", "arith_proof")
    return spec.factory(plugin_config(spec, preset, overrides))


def text_tokens(task: ArithProofTask, text: str) -> np.ndarray:
    """Tokens of a proof written as text (``' '`` = blank), for hand-made answers."""
    table = {" ": BLANK, "*": 12, "+": 13, "=": 14, ";": 15, "_": PAD} | {str(d): DIGIT0 + d for d in range(10)}
    assert len(text) == task.info.seq_len, f"{text!r} is not {task.info.seq_len} tokens"
    return np.array([table[ch] for ch in text])


def test_layout_vocab_and_rendering():
    task = make()  # T up to 999: factors up to 499 (3 digits), addend < sqrt(999) (2 digits)
    assert isinstance(task, Task) and task.label_free_verify
    assert task.layout == Layout(factor=3, number=3, addend=2)
    assert task.info.vocab_size == 16 and task.info.seq_len == 3 + 1 + 3 + 1 + 3 + 1 + 3 + 1 + 2 + 1 + 3
    proof = task.encode_proof(3, 5, 2)
    assert task.render(proof) == "  3*  5= 15; 15+ 2= 17"
    assert np.array_equal(proof, text_tokens(task, "  3*  5= 15; 15+ 2= 17"))
    assert task.render(task.encode_input(17)) == "17" + "_" * 20
    assert task.parse_proof(proof) == (3, 5, 15, 15, 2, 17)


def test_verify_accepts_any_valid_proof_and_rejects_bad_ones():
    task = make()
    x = task.encode_input(17)
    good = ["  3*  5= 15; 15+ 2= 17", "  5*  3= 15; 15+ 2= 17", "  2*  8= 16; 16+ 1= 17", "  4*  4= 16; 16+ 1= 17"]
    for proof in good:
        assert task.verify(text_tokens(task, proof), x) and task.verify(text_tokens(task, proof), x, labels=None)
    bad = {
        "  3*  5= 16; 16+ 1= 17": "wrong product",
        "  3*  5= 15; 14+ 3= 17": "the two I differ",
        "  3*  5= 15; 15+ 3= 18": "proves another T",
        "  1* 17= 17; 17+ 0= 17": "trivial factor",
        "  2*  7= 14; 14+ 3= 17": "addend not below the factors",
        "  3* 05= 15; 15+ 2= 17": "leading zero",
        "  3 * 5= 15; 15+ 2= 17": "symbol out of place",
        "  3*  5= 15; 15+  = 17": "empty field",
        "  3*5  = 15; 15+ 2= 17": "blank inside a field",
    }
    for proof, why in bad.items():
        assert not task.verify(text_tokens(task, proof), x), why
    assert not task.verify(task.encode_input(17), x)


def test_rules_follow_the_config():
    loose = make(ban_trivial=False, addend_below_factors=False)
    x = loose.encode_input(17)
    assert loose.verify(loose.encode_proof(1, 17, 0), x)  # allowed when trivial proofs are not banned
    assert loose.verify(loose.encode_proof(2, 2, 13), x)
    strict = make(ban_zero_addend=True)
    assert not strict.verify(strict.encode_proof(3, 4, 0), strict.encode_input(12))
    assert strict.verify(strict.encode_proof(3, 3, 2), strict.encode_input(11))


@pytest.mark.parametrize(
    "overrides",
    [
        {},
        {"ban_zero_addend": True},
        {"label_proof": "smallest"},
        {"label_proof": "random"},
        {"addend_below_factors": False, "ban_zero_addend": True},
    ],
)
def test_every_generated_label_is_a_valid_proof_under_the_rules(overrides):
    task = make(**overrides)
    for split in ("train", "test"):
        data = task.build(split)
        for x, y in zip(data.inputs.numpy(), data.labels.numpy()):
            assert task.verify(y, x)
            a, b, _, _, c, _ = task.parse_proof(y)
            assert min(a, b) >= 2 and (c > 0 or not task.config.ban_zero_addend)


def test_label_choice():
    balanced, smallest = make(), make(label_proof="smallest")
    rng = np.random.default_rng(0)
    assert balanced.choose_proof(101, rng) == (10, 10, 1)
    assert smallest.choose_proof(101, rng) == (2, 50, 1)
    assert make(ban_zero_addend=True).choose_proof(6, rng) is None  # 2*3+0 only, and c = 0 is banned
    picks = {make(label_proof="random").choose_proof(360, rng) for _ in range(100)}
    assert len(picks) > 10 and any(a > b for a, b, _ in picks)


def test_deterministic_disjoint_and_bucketed():
    a, b = make(), make()
    for split in ("train", "test"):
        sa, sb = a._build(split), b._build(split)
        assert all(np.array_equal(u, v) for u, v in zip(sa.to_arrays().values(), sb.to_arrays().values()))
    other = make(seed=1)._build("train")
    assert not np.array_equal(other.inputs, a._build("train").inputs)
    train, test = a.build("train"), a.build("test")
    assert train.inputs.shape == (256, 22) and test.inputs.shape == (64, 22)
    ts_train = {a.parse_input(x) for x in train.inputs.numpy()}
    ts_test = [a.parse_input(x) for x in test.inputs.numpy()]
    assert len(ts_train) == 256 and len(set(ts_test)) == 64 and not ts_train & set(ts_test)
    assert a.bucket_names == ("2-digit", "3-digit")
    assert test.bucket.tolist() == [len(str(t)) - 2 for t in ts_test]
    assert np.bincount(test.bucket.numpy()).tolist() == [32, 32]  # balanced over digit counts
    assert np.allclose(test.difficulty.numpy(), np.log10(ts_test))
    assert (train.puzzle_ids == 0).all()


def test_extrapolation_range_widens_the_layout():
    task = make(t_min=10, t_max=99, test_t_min=1000, test_t_max=9999, n_train=50, n_test=20)
    assert task.layout.number == 4 and task.bucket_names == ("2-digit", "3-digit", "4-digit")
    assert all(task.parse_input(x) < 100 for x in task.build("train").inputs.numpy())
    assert all(task.parse_input(x) >= 1000 for x in task.build("test").inputs.numpy())


def test_too_few_provable_targets_is_a_clear_error():
    task = make(t_min=4, t_max=7, n_train=3, n_test=1, ban_zero_addend=True)  # only 5 and 7 have proofs
    with pytest.raises(ValueError, match=r"only \d+ values of T in 4..7 have a valid proof"):
        task.build("train")
    with pytest.raises(ConfigError, match="t_min"):
        make(t_min=50, t_max=10)


def test_proof_stats_reveal_lazy_and_trivial_answers():
    task = make()
    rows = [
        (17, task.encode_proof(2, 8, 1)),  # the lazy 2*k+1
        (33, task.encode_proof(2, 16, 1)),  # lazy again
        (101, task.encode_proof(10, 10, 1)),  # balanced
        (17, task.encode_proof(1, 17, 0)),  # arithmetically right but trivial (banned here)
        (18, task.encode_proof(3, 6, 0)),  # exact factorisation
        (19, task.encode_proof(3, 6, 0)),  # well formed, proves 18 instead of 19
        (20, task.encode_input(20)),  # not a proof at all
    ]
    inputs = np.stack([task.encode_input(t) for t, _ in rows])
    preds = np.stack([p for _, p in rows])
    stats = task.proof_stats(preds, inputs)
    assert stats.n == 7
    assert stats.well_formed == pytest.approx(6 / 7) and stats.correct == pytest.approx(5 / 7)
    assert stats.valid == pytest.approx(4 / 7)
    assert stats.trivial == pytest.approx(1 / 7) and stats.factor_two == pytest.approx(2 / 7)
    assert stats.zero_addend == pytest.approx(2 / 7)
    assert stats.smaller_factor_hist == {1: 1, 2: 2, 3: 1, 10: 1}
    assert 0 < stats.balance < 1
    assert set(stats.metrics()) == {
        "proof_well_formed",
        "proof_correct",
        "proof_valid",
        "proof_trivial",
        "proof_factor_two",
        "proof_zero_addend",
        "proof_balance",
    }
    zeros = torch.zeros(len(rows), dtype=torch.int64)
    split = Split(
        inputs=torch.from_numpy(inputs),
        labels=torch.from_numpy(preds),
        puzzle_ids=zeros,
        difficulty=zeros.float(),
        bucket=zeros,
    )
    assert task.extra_metrics(preds, split) == stats.metrics()  # the engine's hook over a whole pass
    labels = task.build("test")
    assert task.proof_stats(labels.labels.numpy(), labels.inputs.numpy()).balance > 0.9  # balanced labels


def test_cache_hit_on_second_build(tmp_path, monkeypatch):
    monkeypatch.setenv("LOOPED_HRM_CACHE", str(tmp_path))
    task = make()
    first = task.build("test")
    assert len(list((tmp_path / "arith_proof").glob("test-*.npz"))) == 1
    monkeypatch.setattr(task, "_build", lambda split: pytest.fail("rebuilt although cached"))
    assert np.array_equal(task.build("test").labels, first.labels)


def test_presets():
    spec = get_registry().get("task", "arith_proof")
    assert set(spec.presets) == {"tiny", "small", "paper"}
    assert make("paper").layout == Layout(factor=6, number=6, addend=3)  # c < sqrt(999999) = 999.9
    assert make("small").info.seq_len == 33
