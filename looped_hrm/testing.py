"""Contract checks for plugin authors: `check_task`, `check_model`, `check_policy`.

Each runs a plugin object through what the engine relies on and raises `AssertionError` with a
message naming the broken rule. Every built-in task, model and policy passes them (the project's own
tests run them over all of them), and a third-party package calls them from its own test suite::

    from looped_hrm.testing import check_model, check_policy, check_task

    def test_my_task():
        check_task(MyTask(MyConfig(num_train=64, num_test=32)))

They need no pytest and no GPU; everything runs on small CPU batches in a second or two.
`check_task` includes `check_disjoint_splits` (no test item is a training item up to the task's
symmetries), which a task can sharpen with an optional ``canonical_forms`` method
(`looped_hrm.overlap`).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch

from looped_hrm.contracts import (
    IGNORE_INDEX,
    SPLITS,
    Batch,
    ComputeProfile,
    HaltContext,
    HaltDecision,
    HaltingPolicy,
    ReasoningModel,
    SegmentOutput,
    Split,
    Task,
    TaskInfo,
    where_rows,
)
from looped_hrm.overlap import Overlap, canonical_forms, split_overlap

__all__ = ["check_disjoint_splits", "check_model", "check_policy", "check_task"]


def _fail(who: str, rule: str) -> AssertionError:
    return AssertionError(f"{who}: {rule}")


def _missing(obj: object, protocol: type) -> str:
    """``" (missing: a, b)"``: the members of ``protocol`` (attributes it declares, methods it defines)
    that ``obj`` lacks, so a failed check names them instead of only the protocol."""
    members = [*getattr(protocol, "__annotations__", {})]
    members += [name for name, value in vars(protocol).items() if not name.startswith("_") and callable(value)]
    lacking = [name for name in dict.fromkeys(members) if not hasattr(obj, name)]
    return f" (missing: {', '.join(lacking)})" if lacking else ""


def check_task(task: Task, *, examples: int = 16, memorisation: bool = False) -> None:
    """The `Task` contract: deterministic, well-formed splits, a verifier that checks answers, and a
    test split disjoint from training.

    Per split: int64 ``[N, seq_len]`` inputs and labels in the vocabulary (the test split may have
    another length — a task tested at another size — and a grid task's is a grid; labels may be
    `IGNORE_INDEX`), puzzle ids below ``num_puzzle_ids``, buckets indexing ``bucket_names``, finite
    difficulties; building twice gives the same tensors. On the first ``examples`` test rows,
    ``verify`` accepts the stored answer (without the label too, for ``label_free_verify`` tasks) and
    rejects at least one answer with a scored token changed; ``render`` returns text. Then
    `check_disjoint_splits`, unless ``memorisation`` says that this configuration is meant to test
    on training items.
    """
    who = f"task {getattr(task, 'name', type(task).__name__)!r}"
    if not isinstance(task, Task):
        raise _fail(who, f"does not implement looped_hrm.contracts.Task{_missing(task, Task)}")
    info = task.info
    if not isinstance(info, TaskInfo) or info.vocab_size < 2 or info.seq_len < 1 or info.num_puzzle_ids < 1:
        raise _fail(who, f"info must be a TaskInfo with vocab_size >= 2, seq_len >= 1, num_puzzle_ids >= 1: {info}")
    if not isinstance(task.bucket_names, tuple) or not task.bucket_names:
        raise _fail(who, f"bucket_names must be a non-empty tuple, got {task.bucket_names!r}")
    for name in SPLITS:
        split = task.build(name)
        _check_split(who, name, split, task)
        again = task.build(name)
        if not (torch.equal(split.inputs, again.inputs) and torch.equal(split.labels, again.labels)):
            raise _fail(who, f"build({name!r}) is not deterministic: two calls gave different examples")

    test = task.build("test")
    rejected = False
    for i in range(min(examples, len(test))):
        x, y = test.inputs[i].numpy(), test.labels[i].numpy()
        answer = np.where(y == IGNORE_INDEX, 0, y)
        if not task.verify(answer, x, y):
            raise _fail(who, f"verify rejects the stored answer of test example {i}")
        if task.label_free_verify and not task.verify(answer, x, None):
            raise _fail(who, f"label_free_verify is True but verify(answer, inputs, None) rejects test example {i}")
        scored = np.flatnonzero(y != IGNORE_INDEX)
        if len(scored):
            wrong = answer.copy()
            wrong[scored[0]] = (wrong[scored[0]] + 1) % info.vocab_size
            rejected |= not task.verify(wrong, x, y)
        text = task.render(x)
        if not isinstance(text, str) or not text:
            raise _fail(who, "render must return a non-empty string")
    if not rejected:
        raise _fail(who, "verify accepted every answer with a scored token changed: it does not check the answer")
    if not memorisation:
        check_disjoint_splits(task, examples=examples)


def check_disjoint_splits(task: Task, *, examples: int = 16, seed: int = 0) -> Overlap:
    """No test item is a training item up to the task's symmetries (`looped_hrm.overlap`).

    The task's canonical forms (its optional ``canonical_forms``, else puzzle id and input tokens)
    give one key per row, and no test row may share a key with a training row. Since the keys are
    only as good as the symmetries they cover, the first ``examples`` rows of each split are also
    passed through the task's ``augment`` (when it has one), and every augmented row must keep its
    key. Returns the measured `Overlap`.
    """
    who = f"task {getattr(task, 'name', type(task).__name__)!r}"
    train, test = task.build("train"), task.build("test")
    augment = getattr(task, "augment", None)
    if augment is not None:
        rng = np.random.default_rng(seed)
        for name, split in (("train", train), ("test", test)):
            rows = split.subset(slice(0, examples))
            moved = [augment(x, y, rng) for x, y in zip(rows.inputs.numpy(), rows.labels.numpy())]
            augmented = Split(
                inputs=torch.as_tensor(np.stack([x for x, _ in moved]), dtype=torch.int64),
                labels=torch.as_tensor(np.stack([y for _, y in moved]), dtype=torch.int64),
                puzzle_ids=rows.puzzle_ids,
                difficulty=rows.difficulty,
                bucket=rows.bucket,
            )
            for i, (a, b) in enumerate(zip(canonical_forms(task, rows), canonical_forms(task, augmented))):
                if a != b:
                    raise _fail(
                        who,
                        f"augment changes the canonical form of {name} row {i}: canonical_forms must give rows "
                        "that are the same item up to the task's augmentations one key (looped_hrm.overlap)",
                    )
    overlap = split_overlap(task, train, test)
    if overlap.in_train:
        first = int(np.flatnonzero(overlap.seen)[0])
        raise _fail(
            who,
            f"{overlap.in_train} of {overlap.test_rows} test rows are training items up to the task's symmetries "
            f"(the first: test row {first}, {task.render(test.inputs[first].numpy())!r}); the test split "
            "must be disjoint from training unless the configuration measures memorisation",
        )
    return overlap


def _check_split(who: str, name: str, split: Split, task: Task) -> None:
    info = task.info
    where = f"split {name!r}"
    if not isinstance(split, Split) or len(split) == 0:
        raise _fail(who, f"{where} must be a non-empty looped_hrm.contracts.Split")
    for field in ("inputs", "labels", "puzzle_ids", "bucket"):
        if getattr(split, field).dtype != torch.int64:
            raise _fail(who, f"{where}: {field} must be int64, got {getattr(split, field).dtype}")
    length = split.inputs.shape[1]
    if name == "train" and length != info.seq_len:
        raise _fail(who, f"{where}: rows have {length} tokens, info.seq_len says {info.seq_len}")
    try:  # a test split may be longer or shorter (extrapolation), a grid task's stays a grid
        info.grid_at(length)
    except ValueError as exc:
        raise _fail(who, f"{where}: {exc}") from None
    if split.inputs.min() < 0 or split.inputs.max() >= info.vocab_size:
        raise _fail(who, f"{where}: input tokens outside 0..{info.vocab_size - 1}")
    labels = split.labels[split.labels != IGNORE_INDEX]
    if labels.numel() == 0:
        raise _fail(who, f"{where}: every label is IGNORE_INDEX (nothing to score)")
    if labels.min() < 0 or labels.max() >= info.vocab_size:
        raise _fail(who, f"{where}: label tokens outside 0..{info.vocab_size - 1} (IGNORE_INDEX aside)")
    if split.puzzle_ids.min() < 0 or split.puzzle_ids.max() >= info.num_puzzle_ids:
        raise _fail(who, f"{where}: puzzle ids outside 0..{info.num_puzzle_ids - 1}")
    if split.bucket.min() < 0 or split.bucket.max() >= len(task.bucket_names):
        raise _fail(who, f"{where}: bucket indices outside 0..{len(task.bucket_names) - 1} (bucket_names)")
    if not torch.isfinite(split.difficulty).all():
        raise _fail(who, f"{where}: difficulty has non-finite values")


def _random_batch(info: TaskInfo, n: int, seed: int) -> Batch:
    g = torch.Generator().manual_seed(seed)
    return Batch(
        inputs=torch.randint(0, info.vocab_size, (n, info.seq_len), generator=g),
        labels=torch.randint(0, info.vocab_size, (n, info.seq_len), generator=g),
        puzzle_ids=torch.randint(0, info.num_puzzle_ids, (n,), generator=g),
    )


def check_model(model: ReasoningModel, info: TaskInfo, *, batch_size: int = 4, seed: int = 0) -> None:
    """The `ReasoningModel` contract on random CPU batches of ``info``'s shape.

    ``initial_carry`` gives batch-first tensors without gradient; ``segment`` keeps the carry's keys
    and shapes, returns float32 ``[B, L, V]`` logits that carry gradient to the parameters, the
    halting outputs its ``halting_levels`` promise, and the same values under ``torch.no_grad``;
    rows are independent (a row restarted from ``initial_carry`` equals a fresh run, the others go on
    unchanged: the engine's ACT batching relies on it); ``compute_profile`` is a `ComputeProfile`
    with positive FLOPs; ``puzzle_embedding_parameters`` returns parameters of the model.
    """
    who = f"model {type(model).__name__}"
    if not isinstance(model, ReasoningModel) or not isinstance(model, torch.nn.Module):
        raise _fail(
            who,
            "must be a torch.nn.Module implementing looped_hrm.contracts.ReasoningModel"
            + _missing(model, ReasoningModel),
        )
    levels = frozenset(model.halting_levels)
    if not levels <= {"segment", "inner"}:
        raise _fail(who, f"halting_levels must be a subset of {{'segment', 'inner'}}, got {sorted(levels)}")
    n, (length, vocab) = batch_size, (info.seq_len, info.vocab_size)
    batch = _random_batch(info, n, seed)
    carry = model.initial_carry(batch)
    _check_rows(who, "initial_carry", carry, n)
    new_carry, out = model.segment(carry, batch)
    _check_rows(who, "segment's carry", new_carry, n)
    if set(new_carry) != set(carry) or any(new_carry[k].shape != carry[k].shape for k in carry):
        raise _fail(who, "segment must return a carry with initial_carry's keys and shapes")
    if not isinstance(out, SegmentOutput):
        raise _fail(who, "segment must return (carry, SegmentOutput)")
    if out.logits.shape != (n, length, vocab) or out.logits.dtype != torch.float32:
        raise _fail(
            who, f"logits must be float32 {(n, length, vocab)}, got {out.logits.dtype} {tuple(out.logits.shape)}"
        )
    if "segment" in levels:
        for name in ("q_halt", "q_continue"):
            q = getattr(out, name)
            if q is None or q.shape != (n,) or q.dtype != torch.float32:
                raise _fail(who, f"a model with the 'segment' level returns float32 [B] {name}")
    if "inner" in levels:
        if out.inner_halt_logits is None or out.inner_steps is None or out.inner_preds is None:
            raise _fail(who, "a model with the 'inner' level returns inner_halt_logits, inner_steps and inner_preds")
        k = out.inner_halt_logits.shape[1]
        if out.inner_steps.shape != (n,) or out.inner_preds.shape != (n, k, length):
            raise _fail(who, "inner_steps must be [B] and inner_preds [B, K, L] with K = inner_halt_logits.shape[1]")
    if out.flops is not None and (out.flops.shape != (n,) or bool((out.flops <= 0).any())):
        raise _fail(who, "flops, when given, must be positive [B]")

    model.zero_grad(set_to_none=True)
    out.logits.float().sum().backward()
    if not any(p.grad is not None and bool(p.grad.abs().sum() > 0) for p in model.parameters()):
        raise _fail(who, "no parameter gets a gradient from the logits")
    with torch.no_grad():
        _, quiet = model.segment(carry, batch)
    if not torch.allclose(quiet.logits, out.logits.detach(), atol=1e-5):
        raise _fail(who, "segment under torch.no_grad gives different logits")

    fresh = _random_batch(info, n, seed + 1)
    halted = torch.arange(n) % 2 == 0
    mixed = Batch(
        *(
            torch.where(halted.view(-1, *[1] * (a.dim() - 1)), b, a)
            for a, b in (
                (batch.inputs, fresh.inputs),
                (batch.labels, fresh.labels),
                (batch.puzzle_ids, fresh.puzzle_ids),
            )
        )
    )
    with torch.no_grad():
        restarted = where_rows(halted, model.initial_carry(mixed), new_carry)
        _, out_mixed = model.segment(restarted, mixed)
        _, out_fresh = model.segment(model.initial_carry(fresh), fresh)
        _, out_cont = model.segment(new_carry, batch)
    if not (
        torch.allclose(out_mixed.logits[halted], out_fresh.logits[halted], atol=1e-5)
        and torch.allclose(out_mixed.logits[~halted], out_cont.logits[~halted], atol=1e-5)
    ):
        raise _fail(
            who,
            "rows are not independent: a row restarted from initial_carry must equal a fresh run "
            "and the other rows must continue unchanged",
        )

    profile = model.compute_profile()
    if not isinstance(profile, ComputeProfile) or profile.forward_flops <= 0 or profile.train_flops <= 0:
        raise _fail(who, f"compute_profile must be a ComputeProfile with positive FLOPs, got {profile!r}")
    owned = {id(p) for p in model.parameters()}
    if any(id(p) not in owned for p in model.puzzle_embedding_parameters()):
        raise _fail(who, "puzzle_embedding_parameters returns tensors that are not parameters of the model")


def _check_rows(who: str, what: str, tensors: Mapping[str, torch.Tensor], n: int) -> None:
    if not isinstance(tensors, Mapping):
        raise _fail(who, f"{what} must be a dict of tensors")
    for key, value in tensors.items():
        if not isinstance(value, torch.Tensor) or value.dim() == 0 or value.shape[0] != n:
            raise _fail(who, f"{what}[{key!r}] must be a batch-first tensor with {n} rows")
        if value.requires_grad:
            raise _fail(who, f"{what}[{key!r}] must not require grad (the engine detaches the carry)")


def check_policy(policy: HaltingPolicy, *, batch_size: int = 4, max_steps: int = 4, seed: int = 0) -> None:
    """The `HaltingPolicy` contract on hand-made segment outputs, in training and in evaluation.

    ``init_state`` gives batch-first tensors; ``step`` returns a `HaltDecision` with a ``[B]`` bool
    ``halt``, a state with ``init_state``'s keys and rows, scalar metrics, a ``loss`` that is None or a
    scalar halting term (the task loss is the engine's: it must not be added here) whose gradient
    reaches the halting logits, and a detached ``[B]`` ``task_weight`` or None; ``inner_halt`` is None
    or a rule returning ``[B]`` bool.
    """
    who = f"halting policy {getattr(policy, 'name', type(policy).__name__)!r}"
    if not isinstance(policy, HaltingPolicy):
        raise _fail(who, f"does not implement looped_hrm.contracts.HaltingPolicy{_missing(policy, HaltingPolicy)}")
    n, length, vocab = batch_size, 6, 5
    g = torch.Generator().manual_seed(seed)
    state = policy.init_state(n, torch.device("cpu"))
    _check_rows(who, "init_state", state, n)
    labels = torch.randint(0, vocab, (n, length), generator=g)
    for training in (True, False):
        rule = policy.inner_halt(training)
        if rule is not None:
            stop = rule(1, torch.randn(n, generator=g))
            if stop.shape != (n,) or stop.dtype != torch.bool:
                raise _fail(who, "inner_halt's rule must return a [B] bool tensor")

        def output(requires_grad: bool) -> SegmentOutput:
            q_halt = torch.randn(n, generator=g).requires_grad_(requires_grad)
            q_continue = torch.randn(n, generator=g).requires_grad_(requires_grad)
            return SegmentOutput(
                logits=torch.randn(n, length, vocab, generator=g),
                q_halt=q_halt,
                q_continue=q_continue,
                inner_steps=torch.full((n,), 2),
                inner_halt_logits=torch.randn(n, 2, generator=g),
                inner_preds=torch.randint(0, vocab, (n, 2, length), generator=g),
            )

        out = output(True)
        lookahead = training and policy.needs_lookahead
        ctx = HaltContext(
            inputs=torch.randint(0, vocab, (n, length), generator=g),
            labels=labels,
            predictions=out.logits.argmax(-1),
            lm_loss=torch.rand(n, generator=g) + 0.5,
            correct=torch.arange(n) % 2 == 0,
            steps=torch.arange(n) % max_steps + 1,
            max_steps=max_steps,
            training=training,
            generator=torch.Generator().manual_seed(seed),
            next_output=output(False) if lookahead else None,
            next_lm_loss=torch.rand(n, generator=g) + 0.5 if lookahead else None,
        )
        decision = policy.step(out, state, ctx)
        mode = "training" if training else "evaluation"
        if not isinstance(decision, HaltDecision):
            raise _fail(who, f"step must return a HaltDecision ({mode})")
        if decision.halt.shape != (n,) or decision.halt.dtype != torch.bool:
            raise _fail(who, f"halt must be a [B] bool tensor ({mode})")
        _check_rows(who, f"the state step returns ({mode})", {k: v.detach() for k, v in decision.state.items()}, n)
        if set(decision.state) != set(state):
            raise _fail(who, f"step's state must keep init_state's keys ({mode})")
        for name, value in decision.metrics.items():
            if not isinstance(value, torch.Tensor) or value.dim() != 0:
                raise _fail(who, f"metric {name!r} must be a scalar tensor, summed over the batch ({mode})")
        if decision.task_weight is not None and (
            decision.task_weight.shape != (n,) or decision.task_weight.requires_grad
        ):
            raise _fail(who, f"task_weight must be None or a detached [B] tensor ({mode})")
        if decision.loss is not None:
            if decision.loss.dim() != 0:
                raise _fail(who, f"loss must be a scalar (the halting term summed over the batch) ({mode})")
            if decision.loss.requires_grad:
                decision.loss.backward()
                reached = [q.grad is not None for q in (out.q_halt, out.q_continue) if q is not None]
                if policy.needs_q_head and not any(reached):
                    raise _fail(who, f"the halting loss does not reach the Q logits ({mode})")
