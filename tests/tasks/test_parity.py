"""The parity task: running/final labels, split lengths for length extrapolation, verifier, cache."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from looped_hrm.config import ConfigError, plugin_config
from looped_hrm.contracts import IGNORE_INDEX, Split, Task
from looped_hrm.overlap import exact_forms, split_overlap
from looped_hrm.plugins.tasks import parity as parity_module
from looped_hrm.plugins.tasks.parity import ONE, PAD, ZERO, ParityTask
from looped_hrm.registry import get_registry
from looped_hrm.testing import check_disjoint_splits


def make(preset: str = "tiny", **overrides) -> ParityTask:
    spec = get_registry().get("task", "parity")
    return spec.factory(plugin_config(spec, preset, overrides))


def tokens(bits: str, seq_len: int) -> np.ndarray:
    return np.array([ZERO + int(b) for b in bits] + [PAD] * (seq_len - len(bits)))


def test_each_split_at_its_own_length_for_length_extrapolation():
    task = make(train_length=8, test_length=16)
    assert isinstance(task, Task) and task.label_free_verify
    assert task.info.vocab_size == 3 and task.info.seq_len == 8  # the model is built for the training length
    train, test = task.build("train"), task.build("test")
    assert train.inputs.shape == (512, 8) and test.inputs.shape == (128, 16)  # no padding to the test length
    assert ((train.inputs == ZERO) | (train.inputs == ONE)).all()
    assert (test.inputs != PAD).all() and (test.labels != IGNORE_INDEX).all()
    assert (train.puzzle_ids == 0).all()
    assert task.verify(test.labels[0].numpy(), test.inputs[0].numpy())


def test_running_labels_are_prefix_parities():
    task = make()
    split = task.build("train")
    x, y = split.inputs.numpy(), split.labels.numpy()
    bits = np.where(x == ONE, 1, 0)
    expected = np.cumsum(bits, axis=1) % 2 + ZERO
    real = x != PAD
    assert np.array_equal(y[real], expected[real])
    assert split.difficulty.numpy().tolist() == bits.sum(1).tolist()  # default difficulty: number of ones
    assert split.bucket.tolist() == np.searchsorted([4, 8, 16, 32], bits.sum(1), side="right").tolist()
    assert task.bucket_names == ("<4", "4-7", "8-15", "16-31", ">=32")


def test_final_mode_scores_only_the_last_bit_position():
    task = make(mode="final", train_min_length=1)
    split = task.build("train")
    for x, y in zip(split.inputs.numpy(), split.labels.numpy()):
        n = int((x != PAD).sum())
        scored = np.flatnonzero(y != IGNORE_INDEX)
        assert scored.tolist() == [n - 1]
        assert y[n - 1] == (x[:n] == ONE).sum() % 2 + ZERO
        assert task.verify(y, x)


def test_variable_lengths_and_length_difficulty():
    task = make("paper", num_train=300, num_test=300)
    assert task.info.seq_len == 16 and task.bucket_names == ("<17", "17-32", ">=33")
    train, test = task.build("train"), task.build("test")
    assert train.inputs.shape[1] == 16 and test.inputs.shape[1] == 64
    train_len = (train.inputs != PAD).sum(1)
    test_len = (test.inputs != PAD).sum(1)
    assert train_len.min() >= 1 and train_len.max() <= 16 and len(train_len.unique()) > 8
    assert test_len.max() > 32 and test_len.max() <= 64
    assert test.difficulty.equal(test_len.float())
    assert set(test.bucket.unique().tolist()) == {0, 1, 2}


def test_verifier_on_good_and_bad_answers():
    running, final = make(), make(mode="final")
    x = tokens("1101", 16)
    good = tokens("1001", 16)  # prefix parities of 1,1,0,1 -> 1,0,0,1
    assert running.verify(good, x) and running.verify(good, x, labels=None)
    assert final.verify(good, x)
    wrong_middle = tokens("1011", 16)
    assert not running.verify(wrong_middle, x) and final.verify(wrong_middle, x)
    wrong_last = tokens("1000", 16)
    assert not running.verify(wrong_last, x) and not final.verify(wrong_last, x)
    noisy_padding = good.copy()
    noisy_padding[4:] = ONE  # predictions past the string are not scored
    assert running.verify(noisy_padding, x)
    with pytest.raises(ValueError, match="followed by PAD"):
        running.verify(good, tokens("1101", 16)[[0, 4, 1, 2, 3, *range(5, 16)]])
    split = running.build("test")
    assert all(running.verify(y.clamp(min=0).numpy(), x.numpy()) for x, y in zip(split.inputs, split.labels))


def test_deterministic_per_seed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    def fresh(seed: int, cache: str):
        monkeypatch.setenv("LOOPED_HRM_CACHE", str(tmp_path / cache))
        return make(seed=seed).build("test")

    a, b, c = fresh(3, "a"), fresh(3, "b"), fresh(4, "c")
    assert a.inputs.equal(b.inputs) and a.labels.equal(b.labels)
    assert not a.inputs.equal(c.inputs)


def test_cache_hit_on_second_call(monkeypatch: pytest.MonkeyPatch):
    first = make(seed=11).build("train")

    def no_generation(self, split):
        raise AssertionError("generated again instead of reading the cache")

    monkeypatch.setattr(ParityTask, "_make", no_generation)
    assert make(seed=11).build("train").inputs.equal(first.inputs)


def test_augment_is_identity_and_render():
    task = make()
    x, y = tokens("10", 16), tokens("11", 16)
    ax, ay = task.augment(x, y, np.random.default_rng(0))
    assert ax is x and ay is y
    assert task.render(x) == "10" + "." * 14


def test_presets_and_config_errors():
    spec = get_registry().get("task", "parity")
    assert spec.factory is parity_module.ParityTask
    assert set(spec.presets) >= {"tiny", "small", "paper"}
    with pytest.raises(ConfigError, match="train_min_length must be in"):
        plugin_config(spec, "tiny", {"train_min_length": 20})
    with pytest.raises(ConfigError, match="mode"):
        plugin_config(spec, "tiny", {"mode": "prefix"})
    with pytest.raises(ValueError, match="unknown split"):
        make().build("val")


def test_test_strings_are_distinct_and_never_training_strings():
    task = make(train_length=12, test_length=12, num_train=512, num_test=128)
    train, test = task.build("train"), task.build("test")
    seen = {row.tobytes() for row in train.inputs.numpy()}
    strings = [row.tobytes() for row in test.inputs.numpy()]
    assert len(set(strings)) == 128 and not seen & set(strings)
    assert len({row.tobytes() for row in train.inputs.numpy()}) < 512  # training keeps its repeats
    # 8 bits: 512 training draws leave too few of the 256 strings for 128 unseen test strings
    with pytest.raises(ValueError, match="only 35 of the num_test = 128 test strings of 8..8 bits"):
        make(train_length=8, test_length=8, num_train=512, num_test=128).build("test")


def test_a_string_is_one_item_at_every_split_length():
    """The canonical form is the unpadded string: a test string padded to 16 tokens that is a training
    string padded to 8 is seen (the padded tokens, the default key, would tell them apart), and the
    test splits of mixed lengths hold none."""
    task = make(train_length=8, test_length=16, num_train=512, num_test=128)
    train = task.build("train")
    row = train.inputs[0]
    longer = Split(
        inputs=torch.cat([row, torch.full((8,), PAD)]).unsqueeze(0),
        labels=torch.cat([train.labels[0], torch.full((8,), IGNORE_INDEX)]).unsqueeze(0),
        puzzle_ids=train.puzzle_ids[:1],
        difficulty=train.difficulty[:1],
        bucket=train.bucket[:1],
    )
    assert split_overlap(task, train, longer).in_train == 1
    assert exact_forms(longer) != exact_forms(train.subset(slice(0, 1)))
    mixed = make(train_length=8, test_length=16, test_min_length=1, num_train=200, num_test=128)
    assert check_disjoint_splits(mixed).in_train == 0  # the test strings of up to 8 bits are unseen ones
