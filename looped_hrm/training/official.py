"""Checkpoints of the official HRM and TRM code, loaded into our models: one key-mapping table.

The official ``pretrain.py`` saves ``model.state_dict()`` of ``torch.compile(ACTLossHead(model))``,
so every key reads ``_orig_mod.model.inner.<name>``. Our models hold the same tensors with the
same layouts (fused ``qkv`` ordered q, k, v by head; ``gate_up`` ordered gate, up; the puzzle table
as ``[num_ids, puzzle_emb_ndim]``), so loading is a rename — `OFFICIAL_KEYS` — and nothing is
transposed or recomputed. Official ``H_init``/``L_init`` are bfloat16 buffers; they are loaded
into our float32 buffers exactly (bfloat16 values are float32 values).

The official code keeps no architecture config beside the weights (``all_config.yaml`` exists only
when a W&B run did), so the caller builds our model first — task, model, preset — and the shapes
are checked against it, naming the first key that does not fit.
"""

from __future__ import annotations

import os
import re
import sys
from typing import Mapping

import torch

from looped_hrm.config import ConfigError

WRAPPERS = ("_orig_mod.", "model.", "inner.")
"""Prefixes the official training wrappers add (torch.compile, ACTLossHead, the ACT wrapper), in order."""

OFFICIAL_KEYS: list[tuple[str, str, str]] = [
    # (our model plugins, official name after the wrapper prefixes, our name)
    ("hrm trm", r"embed_tokens\.embedding_weight", r"io.tokens.weight"),
    ("hrm trm", r"embed_pos\.embedding_weight", r"io.positions.weight"),
    ("hrm trm", r"puzzle_emb\.weights", r"io.puzzle.weight"),
    ("hrm trm", r"lm_head\.weight", r"io.lm_head.weight"),
    ("hrm trm", r"q_head\.(weight|bias)", r"io.q_head.\1"),
    ("hrm", r"([HL])_init", r"\1_init"),
    ("hrm", r"([HL])_level\.layers\.(\d+)\.(.*)", r"\1_level.blocks.\2.\3"),
    ("trm", r"H_init", r"y_init"),  # TRM's z_H is the answer y, z_L the latent z
    ("trm", r"L_init", r"z_init"),
    ("trm", r"L_level\.layers\.(\d+)\.(.*)", r"net.blocks.\1.\2"),  # TRM's one network is its L_level
    # inside a block (both models)
    ("hrm trm", r"(.*)self_attn\.qkv_proj\.weight", r"\1attn.qkv.weight"),
    ("hrm trm", r"(.*)self_attn\.o_proj\.weight", r"\1attn.out.weight"),
    ("hrm trm", r"(.*)mlp_t\.gate_up_proj\.weight", r"\1token_mlp.gate_up.weight"),
    ("hrm trm", r"(.*)mlp_t\.down_proj\.weight", r"\1token_mlp.down.weight"),
    ("hrm trm", r"(.*)mlp\.gate_up_proj\.weight", r"\1mlp.gate_up.weight"),
    ("hrm trm", r"(.*)mlp\.down_proj\.weight", r"\1mlp.down.weight"),
]
"""Each row rewrites a whole key (``re.fullmatch``), in order, the block rows after the level rows."""

_SIGNATURE = "embed_tokens.embedding_weight"


def is_official(state: Mapping[str, object]) -> bool:
    """Does ``state`` carry the official code's key names (rather than ours)?"""
    return any(isinstance(k, str) and k.endswith(_SIGNATURE) for k in state)


def official_key(name: str, model: str) -> str | None:
    """Our name for the official key ``name`` on model plugin ``model``; None if the table has no row."""
    for prefix in WRAPPERS:
        if name.startswith(prefix):
            name = name[len(prefix) :]
    renamed = False
    for models, pattern, ours in OFFICIAL_KEYS:
        match = re.fullmatch(pattern, name) if model in models.split() else None
        if match:
            name, renamed = match.expand(ours), True
    return name if renamed else None


def from_official(
    state: Mapping[str, torch.Tensor], model: str, target: torch.nn.Module, *, source: str = "checkpoint"
) -> dict[str, torch.Tensor]:
    """``state`` (official key names) as a state dict for ``target``, our model plugin ``model``.

    Every official key must map and every tensor of ``target`` must be given, with its shape —
    except the puzzle-embedding table: when its row count differs (another task's puzzle ids), it is
    set to the mean of the official rows for every id, as the official TRM does when fine-tuning.
    """
    if model not in {m for row in OFFICIAL_KEYS for m in row[0].split()}:
        raise ConfigError(f"{source}: official checkpoints exist for hrm and trm, not for model '{model}'")
    ours = target.state_dict()
    out: dict[str, torch.Tensor] = {}
    unknown = []
    for name, tensor in state.items():
        key = official_key(name, model)
        if key is None or key not in ours:
            unknown.append(name)
            continue
        want = ours[key].shape
        if key == "io.puzzle.weight" and tensor.shape != want and tensor.shape[1:] == want[1:]:
            print(
                f"looped_hrm: {source}: puzzle-embedding table has {tensor.shape[0]} ids, the task "
                f"{want[0]}: every id starts from the mean official embedding",
                file=sys.stderr,
            )
            tensor = tensor.float().mean(0, keepdim=True).expand(want).contiguous()
        if tensor.shape != want:
            raise ConfigError(
                f"{source}: {name} has shape {tuple(tensor.shape)}, our {key} is {tuple(want)}: "
                "the model config (preset, --set model.*) or the task does not match the checkpoint"
            )
        out[key] = tensor.to(ours[key].dtype)
    if unknown:
        raise ConfigError(
            f"{source}: {len(unknown)} key(s) have no counterpart in our '{model}': "
            f"{', '.join(unknown[:4])}{' ...' if len(unknown) > 4 else ''}"
        )
    missing = sorted(set(ours) - set(out))
    if missing:
        raise ConfigError(
            f"{source}: the checkpoint lacks {', '.join(missing[:4])}{' ...' if len(missing) > 4 else ''} "
            f"of our '{model}' (a different architecture or pos_encodings?)"
        )
    return out


def load_official(path: str | os.PathLike, model: str, target: torch.nn.Module) -> None:
    """Load the official checkpoint file ``path`` into ``target`` (our model plugin ``model``)."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        cause = str(exc).splitlines()[0] if str(exc) else "empty or truncated file"
        raise ConfigError(f"{path}: cannot load checkpoint: {type(exc).__name__}: {cause}") from exc
    if not isinstance(state, Mapping) or not is_official(state):
        raise ConfigError(f"{path}: not an official HRM/TRM state dict (no key ending in '{_SIGNATURE}')")
    target.load_state_dict(from_official(state, model, target, source=str(path)))
