"""Per-example outcomes of an evaluation pass, packed compactly into the JSON result record.

Confidence intervals over test examples and paired tests ("does HRM beat the baseline on *the same*
puzzles?") need each example's outcome, not only the mean. A record keeps them under
``per_example`` (see `pack`): one entry per evaluation mode, each array stored as a short string
``"<kind>:<base64>"`` — ``bits`` (bool, bit-packed), ``u8``/``u16``/``u32`` (counts, ids) or ``f32``
— so 1,000 test examples cost a few kB. `unpack` gives numpy arrays back, in test-split order, so two records
on the same test split can be compared example by example.
"""

from __future__ import annotations

import base64
from typing import Any, Sequence

import numpy as np
import torch

from looped_hrm.evaluation import catalogue
from looped_hrm.evaluation.baselines import BaselineResult
from looped_hrm.evaluation.metrics import ExampleResults
from looped_hrm.overlap import Overlap

FORMAT_VERSION = 1
_DTYPES = {"u16": "<u2", "f32": "<f4", "u8": "u1", "u32": "<u4"}


def encode(values: np.ndarray | torch.Tensor, kind: str) -> str:
    """One 1-D array as ``"<kind>:<base64>"``; ``kind`` is ``bits``, ``u8``, ``u16``, ``u32`` or ``f32``."""
    arr = values.cpu().numpy() if isinstance(values, torch.Tensor) else np.asarray(values)
    if kind == "bits":
        raw = np.packbits(arr.astype(bool)).tobytes()
    elif kind in _DTYPES:
        raw = arr.astype(_DTYPES[kind]).tobytes()
    else:
        raise ValueError(f"unknown array kind {kind!r} (bits, u8, u16, u32, f32)")
    return f"{kind}:{base64.b64encode(raw).decode('ascii')}"


def decode(text: str, n: int) -> np.ndarray:
    """The inverse of `encode` for an array of ``n`` values (bool or float64)."""
    kind, _, payload = text.partition(":")
    raw = base64.b64decode(payload)
    if kind == "bits":
        return np.unpackbits(np.frombuffer(raw, dtype=np.uint8), count=n).astype(bool)
    if kind not in _DTYPES:
        raise ValueError(f"unknown array kind {kind!r} in a per-example record")
    out = np.frombuffer(raw, dtype=_DTYPES[kind]).astype(np.float64)
    if len(out) != n:
        raise ValueError(f"per-example array holds {len(out)} values, expected {n}")
    return out


def pack_array(res: ExampleResults, metric: catalogue.Metric) -> str:
    """The per-example array of one catalogued ``metric`` of a pass, encoded as the record stores it."""
    values = metric.values(res, None) if metric.values is not None else None
    if values is None or metric.encoding is None:
        raise ValueError(f"{metric.name!r} has no per-example array in this pass")
    return encode(values, metric.encoding)


def pack_results(res: ExampleResults) -> dict[str, str]:
    """The per-example arrays of one pass: every metric of the catalogue with an ``array`` that the pass
    measured (correctness, verifier, token accuracy, compute), its arrays after S segments, and the
    exactness after every step when the pass kept a step curve (`catalogue.array_at_step`)."""
    out = {}
    for metric in catalogue.PASS_METRICS:
        if metric.array is None or metric.encoding is None or metric.values is None:
            continue
        if metric.values(res, None) is None:
            continue  # not measured by this pass (verifier off)
        out[metric.array] = pack_array(res, metric)
        for segments, at in sorted(metric.values_at(res).items()) if metric.values_at else ():
            out[catalogue.array_at(metric, segments)] = encode(at, metric.encoding)
    if res.correct_steps is not None:  # the step curve: one bit per example and step
        for step in range(res.correct_steps.shape[1]):
            out[catalogue.array_at_step(step + 1)] = encode(res.correct_steps[:, step], "bits")
    return out


def pack(
    passes: dict[str, ExampleResults],
    *,
    bucket: torch.Tensor,
    bucket_names: Sequence[str],
    overlap: Overlap | None = None,
    baselines: dict[str, BaselineResult] | None = None,
) -> dict[str, Any]:
    """The record's ``per_example`` entry: ``n``, the bucket of each example, one dict per pass.

    With ``overlap`` (`looped_hrm.overlap`) also ``item`` — rows with one number are one test item up
    to the task's symmetries (the augmented views of one input: intervals resample items, not rows) —
    and ``seen``, the rows that are training items. Each trivial baseline is one more entry, under its
    mode ``baseline:<name>``, with the arrays a pass stores for it (`looped_hrm.evaluation.baselines`).
    """
    n = len(bucket)
    out: dict[str, Any] = {
        "version": FORMAT_VERSION,
        "n": n,
        "bucket_names": list(bucket_names),
        "bucket": encode(bucket, "u8" if len(bucket_names) < 256 else "u16"),
    }
    if overlap is not None:
        out["item"] = encode(overlap.item, "u16" if overlap.distinct <= 1 << 16 else "u32")
        out["seen"] = encode(overlap.seen, "bits")
    for mode, res in passes.items():
        out[mode] = pack_results(res)
    for name, base in (baselines or {}).items():
        out[catalogue.baseline_mode(name)] = {
            array: encode(values, catalogue.by_array(array).encoding or "f32")
            for array, values in base.arrays().items()
        }
    return out


def unpack(entry: dict[str, Any]) -> dict[str, Any]:
    """``{"n", "bucket_names", "bucket": int array, "<mode>": {name: array}}`` from a packed entry, with
    ``item`` (int array) and ``seen`` (bool array) when it holds them."""
    n = int(entry["n"])
    out: dict[str, Any] = {
        "n": n,
        "bucket_names": list(entry.get("bucket_names", [])),
        "bucket": decode(entry["bucket"], n).astype(np.int64),
    }
    if "item" in entry:
        out["item"] = decode(entry["item"], n).astype(np.int64)
        out["seen"] = decode(entry["seen"], n)
    for mode, arrays in entry.items():
        if isinstance(arrays, dict):
            out[mode] = {name: decode(text, n) for name, text in arrays.items()}
    return out
