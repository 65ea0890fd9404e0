"""The example plugin's own tests: looped_hrm's contract checks on its task, model and policy.

Run from this folder after `pip install -e .`:  pytest tests
"""

from __future__ import annotations

import torch
from looped_hrm_example import ReverseConfig, ReverseTask
from looped_hrm_example.model import Mixer, MixerConfig, looped_hrm_models
from looped_hrm_example.policy import ConfidenceConfig, ConfidencePolicy

from looped_hrm.config import plugin_config
from looped_hrm.contracts import HaltContext, SegmentOutput
from looped_hrm.testing import check_model, check_policy, check_task


def test_reverse_task_meets_the_contract():
    check_task(ReverseTask(ReverseConfig(length=6, num_train=64, num_test=32)))


def test_mixer_model_meets_the_contract():
    task = ReverseTask(ReverseConfig(length=6))
    torch.manual_seed(0)
    check_model(Mixer(MixerConfig(hidden_size=16), task.info), task.info)
    (spec,) = looped_hrm_models()
    check_model(spec.factory(plugin_config(spec, "tiny"), task.info), task.info)


def test_confidence_policy_meets_the_contract():
    check_policy(ConfidencePolicy())
    check_policy(ConfidencePolicy(ConfidenceConfig(threshold=0.5)))


def test_confidence_halts_only_sure_rows():
    logits = torch.zeros(2, 3, 4)
    logits[0, :, 1] = 10.0  # row 0 sure everywhere; row 1 uniform
    ctx = HaltContext(
        inputs=torch.zeros(2, 3, dtype=torch.int64),
        labels=torch.zeros(2, 3, dtype=torch.int64),
        predictions=logits.argmax(-1),
        lm_loss=torch.zeros(2),
        correct=torch.zeros(2, dtype=torch.bool),
        steps=torch.ones(2, dtype=torch.int64),
        max_steps=4,
        training=False,
    )
    decision = ConfidencePolicy().step(SegmentOutput(logits=logits), {}, ctx)
    assert decision.halt.tolist() == [True, False] and decision.loss is None
