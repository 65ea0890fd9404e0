"""Two deliberately limited model plugins for runner tests (loaded via LOOPED_HRM_PLUGINS).

* ``no_halting_head``: the transformer baseline claiming no halting levels, so every policy that
  needs a Q head must be *skipped* with a reason;
* ``explodes``: a model whose segment raises, so its combinations must be *failed* rows while
  the rest of the grid finishes;
* ``dies``: a model whose process is SIGKILLed in its first training segment — a worker lost
  mid-run (OOM killer, preempted node), which must also become a failed row.
"""

from __future__ import annotations

import os
import signal
from dataclasses import dataclass

from looped_hrm import hookimpl
from looped_hrm.contracts import ModelSpec
from looped_hrm.plugins.models.transformer import Transformer, TransformerConfig


class NoHaltingHead(Transformer):
    halting_levels = frozenset()


class Explodes(Transformer):
    def segment(self, carry, batch, inner_halt=None):
        raise RuntimeError("this model always explodes")


class Dies(Transformer):
    def segment(self, carry, batch, inner_halt=None):
        os.kill(os.getpid(), signal.SIGKILL)


@dataclass
class ToyConfig(TransformerConfig):
    pass


TINY = {"hidden_size": 16, "num_heads": 2, "num_layers": 1}


@hookimpl
def looped_hrm_models():
    return [
        ModelSpec(
            name="no_halting_head",
            factory=NoHaltingHead,
            config=ToyConfig,
            description="test double",
            presets={"tiny": TINY},
        ),
        ModelSpec(
            name="explodes", factory=Explodes, config=ToyConfig, description="test double", presets={"tiny": TINY}
        ),
        ModelSpec(name="dies", factory=Dies, config=ToyConfig, description="test double", presets={"tiny": TINY}),
    ]
