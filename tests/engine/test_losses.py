"""Stablemax and softmax cross-entropy: values, masking, per-example reduction."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from looped_hrm.contracts import IGNORE_INDEX
from looped_hrm.nn.losses import get_loss, log_stablemax, softmax_cross_entropy, stablemax_cross_entropy


def test_stablemax_matches_its_definition():
    x = torch.tensor([-2.0, 0.0, 3.0])
    s = torch.tensor([1 / 3, 1.0, 4.0])  # 1/(1-x) below 0, x+1 above
    assert torch.allclose(log_stablemax(x), torch.log(s / s.sum()))


def test_stablemax_loss_is_per_example_mean_over_scored_tokens_in_float64():
    logits = torch.randn(2, 3, 5, requires_grad=True)
    labels = torch.tensor([[1, 2, IGNORE_INDEX], [0, IGNORE_INDEX, IGNORE_INDEX]])
    loss = stablemax_cross_entropy(logits, labels)
    assert loss.shape == (2,) and loss.dtype == torch.float32
    lp = log_stablemax(logits.detach().double())
    expected = torch.stack([-(lp[0, 0, 1] + lp[0, 1, 2]) / 2, -lp[1, 0, 0]]).float()
    assert torch.allclose(loss, expected, atol=1e-6)
    loss.sum().backward()
    assert logits.grad[0, 2].abs().sum() == 0  # an ignored position gets no gradient


def test_softmax_loss_matches_torch_and_a_row_without_scored_tokens_is_zero():
    logits = torch.randn(2, 4, 3)
    labels = torch.tensor([[0, 1, 2, 1], [IGNORE_INDEX] * 4])
    loss = softmax_cross_entropy(logits, labels)
    assert loss[0].item() == pytest.approx(F.cross_entropy(logits[0], labels[0]).item(), rel=1e-6)
    assert loss[1].item() == 0.0


def test_get_loss_names_the_known_losses():
    assert get_loss("softmax") is softmax_cross_entropy
    with pytest.raises(ValueError, match="stablemax, softmax"):
        get_loss("focal")
