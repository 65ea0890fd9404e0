"""The built-in plugins at their tiny presets, built the way a run builds them: shared by the
compile and precision tests, which check every built-in model."""

from __future__ import annotations

from looped_hrm.config import plugin_config
from looped_hrm.experiment.run import seed_everything
from looped_hrm.registry import get_registry

# every built-in model with the policy it is usually trained with
MODELS = [("hrm", "act_q"), ("trm", "act_bce"), ("looped_transformer", "act_q"), ("transformer", "act_q")]


def tiny_sudoku(model: str, halting: str):
    """(task, model, policy) for tiny 4x4 Sudoku; the model's weights drawn under seed 0."""
    registry = get_registry()
    task_spec, model_spec, halt_spec = (
        registry.get("task", "sudoku"),
        registry.get("model", model),
        registry.get("halting", halting),
    )
    task = task_spec.factory(plugin_config(task_spec, "tiny", None, "test", ("task",)))
    seed_everything(0)
    net = model_spec.factory(plugin_config(model_spec, "tiny", None, "test", ("model",)), task.info)
    policy = halt_spec.factory(plugin_config(halt_spec, None, None, "test", ("halting",)))
    return task, net, policy
