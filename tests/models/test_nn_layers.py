"""The shared layers in looped_hrm.nn behave as the official HRM/TRM layers do."""

from __future__ import annotations

import math

import pytest
import torch

from looped_hrm.contracts import TaskInfo
from looped_hrm.nn.attention import Attention
from looped_hrm.nn.blocks import Block, ReasoningModule
from looped_hrm.nn.init import trunc_normal_
from looped_hrm.nn.layers import CastedLinear, SwiGLU, resolve_dtype, rms_norm, swiglu_width
from looped_hrm.nn.rope import RotaryEmbedding, apply_rope
from looped_hrm.nn.sequence_io import BackboneConfig, SequenceIO


def test_trunc_normal_has_the_requested_std_and_is_cut_at_two_sigma():
    w = trunc_normal_(torch.empty(200_000), std=0.05)
    assert w.std().item() == pytest.approx(0.05, rel=0.02)  # corrected, not the ~12% smaller plain truncation
    assert w.abs().max().item() <= 2 * 0.05 / 0.8796 + 1e-6


def test_casted_linear_is_bias_free_lecun_and_casts_fp32_master_weights():
    layer = CastedLinear(512, 256)
    assert layer.bias is None and layer.weight.dtype == torch.float32
    assert layer.weight.std().item() == pytest.approx(1 / math.sqrt(512), rel=0.05)
    y = layer(torch.randn(3, 512, dtype=torch.bfloat16))
    assert y.dtype == torch.bfloat16 and layer.weight.dtype == torch.float32


@pytest.mark.parametrize("hidden,expansion,width", [(512, 4, 1536), (64, 4, 256), (97, 4, 512), (1024, 4, 2816)])
def test_swiglu_width_follows_the_official_rounding(hidden, expansion, width):
    assert swiglu_width(hidden, expansion) == width


def test_rms_norm_has_unit_rms_no_parameters_and_keeps_dtype():
    x = torch.randn(2, 5, 64, dtype=torch.bfloat16) * 7
    y = rms_norm(x)
    assert y.dtype == torch.bfloat16
    assert y.float().square().mean(-1).sqrt().allclose(torch.ones(2, 5), atol=1e-2)


def test_rope_attention_scores_depend_only_on_relative_position():
    cos, sin = RotaryEmbedding(head_dim=8, seq_len=12)()
    q, k = torch.randn(8), torch.randn(8)
    rq = apply_rope(q.expand(1, 12, 1, 8), cos, sin)[0, :, 0]
    rk = apply_rope(k.expand(1, 12, 1, 8), cos, sin)[0, :, 0]
    assert torch.dot(rq[7], rk[4]).item() == pytest.approx(torch.dot(rq[3], rk[0]).item(), rel=1e-5)
    assert torch.dot(rq[0], rk[0]).item() == pytest.approx(torch.dot(q, k).item(), rel=1e-5)  # position 0: identity


def test_attention_is_non_causal():
    attn = Attention(hidden=32, num_heads=4)
    x = torch.randn(1, 6, 32)
    x2 = x.clone()
    x2[0, -1] += 1.0
    assert not torch.allclose(attn(x)[0, 0], attn(x2)[0, 0])  # the first position sees the last


def test_block_parameter_counts_match_the_official_ones():
    assert sum(p.numel() for p in Block(512, 8, 4.0).parameters()) == 3_407_872
    # TRM-MLP on Sudoku: token mixing across 81 cells + 16 prefix positions
    assert sum(p.numel() for p in Block(512, 8, 4.0, mixer="mlp", seq_len=97).parameters()) == 2_508_288
    assert sum(p.numel() for p in SwiGLU(512, 4.0).parameters()) == 2_359_296


def test_token_mixing_block_mixes_across_positions_and_needs_a_sequence_length():
    block = Block(16, 2, 4.0, mixer="mlp", seq_len=5)
    assert block.attn is None
    x = torch.randn(1, 5, 16)
    x2 = x.clone()
    x2[0, 4] += 1.0
    assert not torch.allclose(block(x)[0, 0], block(x2)[0, 0])
    with pytest.raises(ValueError, match="sequence length"):
        Block(16, 2, 4.0, mixer="mlp")


def test_reasoning_module_adds_its_injection_first():
    module = ReasoningModule([Block(16, 2, 4.0)])
    z, inj = torch.randn(2, 3, 16), torch.randn(2, 3, 16)
    assert torch.allclose(module(z, inj), module(z + inj, None))


def test_resolve_dtype_auto_is_float32_on_cpu_and_bf16_on_cuda():
    assert resolve_dtype("auto", torch.device("cpu")) == torch.float32
    assert resolve_dtype("auto", torch.device("cuda")) == torch.bfloat16
    assert resolve_dtype("bfloat16", torch.device("cpu")) == torch.bfloat16


def test_sequence_io_prefix_layout_scaling_and_heads():
    task = TaskInfo(vocab_size=7, seq_len=4, num_puzzle_ids=3)
    io = SequenceIO(BackboneConfig(hidden_size=8, num_heads=2, puzzle_emb_len=2), task)
    assert io.prefix_len == 2 and io.seq_len == 6
    with torch.no_grad():
        io.puzzle.weight[1] = torch.arange(8.0)
    x = io.embed(torch.zeros(2, 4, dtype=torch.long), torch.tensor([1, 0]), torch.float32)
    assert x.shape == (2, 6, 8)
    assert torch.allclose(x[0, 0], math.sqrt(8) * torch.arange(8.0))  # the vector fills the first prefix position
    assert torch.all(x[0, 1] == 0) and torch.all(x[1, :2] == 0)  # padding, and a zero-initialised id
    assert torch.allclose(x[0, 2], math.sqrt(8) * io.tokens.weight[0])
    z = torch.randn(2, 6, 8)
    assert io.logits(z).shape == (2, 4, 7)
    assert torch.all(io.q_logits(z[:, 0]) == -5.0)


def test_backbone_config_rejects_bad_shapes():
    with pytest.raises(ValueError, match="divisible"):
        BackboneConfig(hidden_size=10, num_heads=3)
    with pytest.raises(ValueError, match="does not fit"):
        BackboneConfig(hidden_size=8, num_heads=2, puzzle_emb_ndim=20, puzzle_emb_len=2)
