"""Arithmetic proofs: given an integer T, write a proof ``a * b = I ; I + c = T``.

The task of the arithmetic-proof HRM variant. Many proofs exist for one T, so the verifier checks the
arithmetic, not equality with the stored proof, and ``label_free_verify`` is True (the ``verifier``
halting policy can stop as soon as the proof checks).

Rules (config):

* factors are positive; with ``ban_trivial`` a factor of 1 is not allowed (``1 * T = T ; T + 0 = T``
  proves nothing);
* with ``addend_below_factors`` the addend is smaller than both factors, ``0 <= c < min(a, b)``: the
  proof is a division with remainder, so a model cannot write ``2 * 2 = 4 ; 4 + (T - 4) = T``;
* with ``ban_zero_addend`` c = 0 is not allowed either.

A model may still learn one lazy family of valid proofs (``2 * k + 1`` for every odd T): `proof_stats`
reports the distribution of the (a, b) it uses — share of trivial proofs, share with a factor 2, how
balanced the factors are, a histogram of the smaller factor — so the metrics can show it.

Token layout (fixed width, so ``seq_len`` is constant for a config): numbers are right-aligned in
fields of fixed width, left-padded with the blank token, no leading zeros::

    label:  [a:WA] * [b:WA] = [I:WT] ; [I:WT] + [c:WC] = [T:WT]
    input:  T's digits, then PAD to the same length

Vocabulary: PAD 0 (input filler only), blank 1 (field padding), digits 0..9 -> 2..11, ``*`` 12,
``+`` 13, ``=`` 14, ``;`` 15: 16 tokens. Every label position is scored.

The label holds one proof chosen by ``label_proof``: ``balanced`` (the valid a closest to sqrt(T):
one deterministic answer, the hardest to find), ``smallest`` (the smallest valid a: deterministic, the
lazy one) or ``random`` (a random division proof, factors in random order: the label is ambiguous,
only verify-accuracy is meaningful).
Difficulty = log10(T); bucket = number of digits of T (each digit count equally often with
``balance_digits``). Train and test T are disjoint; the test range may differ from the training range
(extrapolation to longer numbers).
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from typing import Literal

import numpy as np

from looped_hrm import hookimpl
from looped_hrm.cache import cached_split
from looped_hrm.contracts import Split, TaskInfo, TaskSpec

PAD, BLANK, DIGIT0 = 0, 1, 2
TIMES, PLUS, EQUALS, SEMI = 12, 13, 14, 15
VOCAB_SIZE = 16
_SYMBOLS = {PAD: "_", BLANK: " ", TIMES: "*", PLUS: "+", EQUALS: "=", SEMI: ";"}
_CACHE_VERSION = 1


@dataclass
class ArithProofConfig:
    t_min: int = 10
    t_max: int = 999
    test_t_min: int | None = None  # None: the training range
    test_t_max: int | None = None
    n_train: int = 2000
    n_test: int = 500
    ban_trivial: bool = True  # no factor 1
    addend_below_factors: bool = True  # 0 <= c < min(a, b)
    ban_zero_addend: bool = False  # c >= 1
    label_proof: Literal["balanced", "smallest", "random"] = "balanced"
    balance_digits: bool = True  # every digit count of T equally often (else T uniform in the range)
    seed: int = 0

    def __post_init__(self) -> None:
        for lo, hi in ((self.t_min, self.t_max), self.test_range):
            if not 1 <= lo <= hi:
                raise ValueError(
                    f"need 1 <= t_min <= t_max for both ranges, got train {self.t_min}..{self.t_max}, "
                    f"test {self.test_range[0]}..{self.test_range[1]}"
                )
        if self.n_train < 0 or self.n_test < 0:
            raise ValueError(f"n_train and n_test must be >= 0, got {self.n_train}, {self.n_test}")

    @property
    def test_range(self) -> tuple[int, int]:
        return (
            self.t_min if self.test_t_min is None else self.test_t_min,
            self.t_max if self.test_t_max is None else self.test_t_max,
        )


@dataclass(frozen=True)
class Layout:
    """Field widths and where each field and symbol sits in the fixed-width proof."""

    factor: int
    number: int
    addend: int

    @property
    def fields(self) -> list[tuple[str, int, int]]:
        """(name, start, width) of the six number fields, in order a, b, I, I, c, T."""
        out, pos = [], 0
        for name, width in (
            ("a", self.factor),
            ("b", self.factor),
            ("i", self.number),
            ("i2", self.number),
            ("c", self.addend),
            ("t", self.number),
        ):
            out.append((name, pos, width))
            pos += width + 1
        return out

    @property
    def symbols(self) -> list[tuple[int, int]]:
        """(position, token) of the five symbols between the fields."""
        return [
            (start + width, token) for (_, start, width), token in zip(self.fields, (TIMES, EQUALS, SEMI, PLUS, EQUALS))
        ]

    @property
    def length(self) -> int:
        _, start, width = self.fields[-1]
        return start + width


def _digits(n: int) -> int:
    return len(str(n))


def _field(n: int, width: int) -> list[int]:
    text = str(n)
    if len(text) > width:
        raise ValueError(f"{n} does not fit a field of {width} digits")
    return [BLANK] * (width - len(text)) + [DIGIT0 + int(ch) for ch in text]


def _parse_field(tokens: np.ndarray) -> int | None:
    """The number in a right-aligned field, or None unless it is blanks then digits without a leading zero."""
    digits = [int(t) - DIGIT0 for t in tokens if t != BLANK]
    blanks = len(tokens) - len(digits)
    if not digits or any(t == BLANK for t in tokens[blanks:]) or not all(0 <= d <= 9 for d in digits):
        return None
    if digits[0] == 0 and len(digits) > 1:
        return None
    return int("".join(map(str, digits)))


class ArithProofTask:
    name = "arith_proof"
    label_free_verify = True

    def __init__(self, config: ArithProofConfig) -> None:
        self.config = config
        top = max(config.t_max, config.test_range[1])
        low_factor = 2 if config.ban_trivial else 1
        self.layout = Layout(
            factor=_digits(top // low_factor),
            number=_digits(top),
            addend=_digits(math.isqrt(top)) if config.addend_below_factors else _digits(top),
        )
        lowest = min(config.t_min, config.test_range[0])
        self.min_digits = _digits(lowest)
        self.bucket_names = tuple(f"{d}-digit" for d in range(self.min_digits, _digits(top) + 1))
        self.info = TaskInfo(vocab_size=VOCAB_SIZE, seq_len=self.layout.length, num_puzzle_ids=1)

    # -------------------------------------------------------------------------------- proofs

    def is_valid(self, a: int, b: int, c: int, t: int) -> bool:
        """Does ``a * b + c == t`` respect this config's rules?"""
        cfg = self.config
        if a < 1 or b < 1 or c < 0 or a * b + c != t:
            return False
        if cfg.ban_trivial and (a == 1 or b == 1):
            return False
        if cfg.addend_below_factors and c >= min(a, b):
            return False
        return not (cfg.ban_zero_addend and c == 0)

    def candidates(self, t: int) -> np.ndarray:
        """The division proofs of ``t``: ``[K, 3]`` rows (a, b, c) with a <= sqrt(t) and a <= b, one per
        smaller factor a: b = t // a and c = t mod a (or b one less when c may not be 0 and the addend
        may be as large as a factor). Empty when ``t`` has no valid proof under the rules."""
        cfg = self.config
        low = 2 if cfg.ban_trivial else 1
        a = np.arange(low, math.isqrt(t) + 1, dtype=np.int64)
        b, c = t // a, t % a
        if cfg.ban_zero_addend:
            zero = c == 0
            if cfg.addend_below_factors:
                a, b, c = a[~zero], b[~zero], c[~zero]
            else:
                b, c = b - zero, c + a * zero
        ok = b >= np.maximum(a, low)
        return np.stack([a[ok], b[ok], c[ok]], axis=1)

    def choose_proof(self, t: int, rng: np.random.Generator) -> tuple[int, int, int] | None:
        """The label's proof of ``t``: ``balanced`` takes the largest smaller factor, ``smallest`` the
        smallest, ``random`` a random one with a and b in random order; None when ``t`` has none."""
        options = self.candidates(t)
        if len(options) == 0:
            return None
        how = self.config.label_proof
        row = -1 if how == "balanced" else 0 if how == "smallest" else int(rng.integers(len(options)))
        a, b, c = (int(x) for x in options[row])
        if how == "random" and rng.random() < 0.5:
            a, b = b, a
        if not self.is_valid(a, b, c, t):
            raise AssertionError(f"internal error: chose an invalid proof {a} * {b} + {c} for {t}")
        return a, b, c

    def encode_proof(self, a: int, b: int, c: int) -> np.ndarray:
        t = a * b + c
        out = np.empty(self.layout.length, dtype=np.int64)
        for (_, start, width), value in zip(self.layout.fields, (a, b, a * b, a * b, c, t)):
            out[start : start + width] = _field(value, width)
        for pos, token in self.layout.symbols:
            out[pos] = token
        return out

    def encode_input(self, t: int) -> np.ndarray:
        out = np.full(self.layout.length, PAD, dtype=np.int64)
        text = str(t)
        out[: len(text)] = [DIGIT0 + int(ch) for ch in text]
        return out

    def parse_input(self, inputs: np.ndarray) -> int:
        digits = [int(x) - DIGIT0 for x in np.asarray(inputs) if x != PAD]
        if not digits or not all(0 <= d <= 9 for d in digits):
            raise ValueError(f"not an arith_proof input: {self.render(inputs)!r}")
        return int("".join(map(str, digits)))

    def parse_proof(self, tokens: np.ndarray) -> tuple[int, int, int, int, int, int] | None:
        """(a, b, I, I', c, T) as written, or None when the layout is broken."""
        tokens = np.asarray(tokens)
        if tokens.shape != (self.layout.length,) or any(tokens[pos] != tok for pos, tok in self.layout.symbols):
            return None
        values = [_parse_field(tokens[start : start + width]) for _, start, width in self.layout.fields]
        return None if any(v is None for v in values) else tuple(values)  # type: ignore[return-value]

    # ------------------------------------------------------------------------------- splits

    def build(self, split: str) -> Split:
        if split not in ("train", "test"):
            raise ValueError(f"arith_proof: unknown split {split!r} (expected 'train' or 'test')")
        return cached_split(self.name, self.config, split, lambda: self._build(split), version=_CACHE_VERSION)

    def _targets(self) -> dict[str, list[int]]:
        """The T of each split: distinct, with a valid proof, and no test T in the training split."""
        cfg = self.config
        rng = np.random.default_rng([cfg.seed, 0])
        test = self._draw(rng, *cfg.test_range, cfg.n_test, set(), "test")
        train = self._draw(rng, cfg.t_min, cfg.t_max, cfg.n_train, set(test), "train")
        return {"train": train, "test": test}

    def _draw(self, rng: np.random.Generator, lo: int, hi: int, n: int, exclude: set[int], split: str) -> list[int]:
        """``n`` distinct provable T in ``lo..hi`` outside ``exclude``. With ``balance_digits`` every
        digit count gets an equal share (a count with too few values gives its rest to longer ones)."""
        ranges = [(lo, hi)]
        if self.config.balance_digits:
            ranges = [(max(lo, 10 ** (d - 1)), min(hi, 10**d - 1)) for d in range(_digits(lo), _digits(hi) + 1)]
        seen = set(exclude)
        chosen: list[int] = []
        for k, (a, b) in enumerate(ranges):
            quota = (n - len(chosen)) // (len(ranges) - k)
            got = self._draw_range(rng, a, b, quota, seen)
            seen.update(got)
            chosen += got
        if len(chosen) < n:
            raise ValueError(
                f"arith_proof: only {len(chosen)} values of T in {lo}..{hi} have a valid proof and are not "
                f"in the other split; {n} asked for the {split} split"
            )
        return chosen

    def _draw_range(self, rng: np.random.Generator, lo: int, hi: int, n: int, seen: set[int]) -> list[int]:
        """Up to ``n`` distinct provable T in ``lo..hi`` not in ``seen`` (fewer only when there are fewer)."""
        if hi - lo + 1 <= 4 * (n + len(seen)):  # a small range: enumerate it
            pool = [t for t in range(lo, hi + 1) if t not in seen and len(self.candidates(t))]
            return [int(t) for t in rng.permutation(pool)[:n]] if pool else []
        chosen: list[int] = []
        taken = set(seen)
        for _ in range(50 * n + 1000):
            if len(chosen) == n:
                break
            t = int(rng.integers(lo, hi + 1))
            if t not in taken and len(self.candidates(t)):
                taken.add(t)
                chosen.append(t)
        return chosen

    def _build(self, split: str) -> Split:
        targets = self._targets()[split]
        rng = np.random.default_rng([self.config.seed, 1 if split == "train" else 2])
        length = self.layout.length
        inputs = np.empty((len(targets), length), dtype=np.int64)
        labels = np.empty((len(targets), length), dtype=np.int64)
        for i, t in enumerate(targets):
            proof = self.choose_proof(t, rng)
            if proof is None:  # _targets keeps only numbers with a proof
                raise ValueError(f"arith_proof: target {t} has no proof")
            inputs[i] = self.encode_input(t)
            labels[i] = self.encode_proof(*proof)
        ts = np.asarray(targets, dtype=np.int64)
        digits = np.array([_digits(t) for t in targets], dtype=np.int64)
        return Split.from_arrays(
            {
                "inputs": inputs,
                "labels": labels,
                "puzzle_ids": np.zeros(len(targets), np.int64),
                "difficulty": np.log10(np.maximum(ts, 1)).astype(np.float32),
                "bucket": digits - self.min_digits,
            }
        )

    # ---------------------------------------------------------------------- the Task protocol

    def augment(
        self, inputs: np.ndarray, labels: np.ndarray, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray]:
        """Identity: T fixes the problem, and no transform of it keeps the proof's meaning."""
        return inputs, labels

    def verify(self, prediction: np.ndarray, inputs: np.ndarray, labels: np.ndarray | None = None) -> bool:
        """Is ``prediction`` a well-formed proof of the input's T under this config's rules? Any valid
        (a, b, c) counts; the labels are not looked at."""
        parsed = self.parse_proof(prediction)
        if parsed is None:
            return False
        a, b, i, i2, c, t = parsed
        return i == i2 == a * b and t == self.parse_input(inputs) and self.is_valid(a, b, c, t)

    def render(self, tokens: np.ndarray) -> str:
        return "".join(
            _SYMBOLS.get(int(x), str(int(x) - DIGIT0) if DIGIT0 <= x < DIGIT0 + 10 else "?") for x in np.asarray(tokens)
        )

    def extra_metrics(self, predictions: np.ndarray, split: Split) -> dict[str, float]:
        """`ProofStats` shares for the engine's tables (``proof_valid``, ``proof_trivial``, ...)."""
        return self.proof_stats(predictions, split.inputs.numpy()).metrics()

    def proof_stats(self, predictions: np.ndarray, inputs: np.ndarray) -> "ProofStats":
        """The distribution of the proofs in a batch of predictions (``[N, L]`` each)."""
        return proof_stats(self, predictions, inputs)


@dataclass
class ProofStats:
    """Which proofs a model writes. Shares are over all N predictions.

    ``well_formed``: the layout parses; ``correct``: the arithmetic is right for the input's T
    (a * b = I, I + c = T, a, b >= 1, c >= 0), whatever the config bans; ``valid``: correct and
    allowed by the config (what `verify` accepts). Among the correct proofs: ``trivial`` has a factor
    1, ``factor_two`` a smaller factor of 2 (the lazy ``2 * k + r`` family), ``zero_addend`` c = 0;
    ``balance`` is the mean of log(min(a, b)) / log(sqrt(T)) (1: as balanced as T allows, near 0: a
    tiny factor); ``smaller_factor_hist`` counts the correct proofs by their smaller factor.
    """

    n: int
    well_formed: float
    correct: float
    valid: float
    trivial: float
    factor_two: float
    zero_addend: float
    balance: float
    smaller_factor_hist: dict[int, int]

    def metrics(self) -> dict[str, float]:
        """The scalar shares, for a metrics table (the histogram stays in ``smaller_factor_hist``)."""
        return {
            f"proof_{k}": float(getattr(self, k))
            for k in ("well_formed", "correct", "valid", "trivial", "factor_two", "zero_addend", "balance")
        }


def proof_stats(task: ArithProofTask, predictions: np.ndarray, inputs: np.ndarray) -> ProofStats:
    """The distribution of (a, b, c) in a batch of predictions, see `ProofStats`."""
    predictions, inputs = np.asarray(predictions), np.asarray(inputs)
    n = len(predictions)
    counts: Counter[str] = Counter()
    hist: Counter[int] = Counter()
    balance = []
    for pred, inp in zip(predictions, inputs):
        parsed = task.parse_proof(pred)
        if parsed is None:
            continue
        counts["well_formed"] += 1
        a, b, i, i2, c, t = parsed
        if not (i == i2 == a * b and t == task.parse_input(inp) and a >= 1 and b >= 1 and i + c == t):
            continue
        small = min(a, b)
        counts["correct"] += 1
        counts["valid"] += task.is_valid(a, b, c, t)
        counts["trivial"] += small == 1
        counts["factor_two"] += small == 2
        counts["zero_addend"] += c == 0
        hist[small] += 1
        balance.append(math.log(small) / math.log(math.sqrt(t)) if t > 1 else 0.0)
    keys = ("well_formed", "correct", "valid", "trivial", "factor_two", "zero_addend")
    return ProofStats(
        n=n,
        balance=float(np.mean(balance)) if balance else 0.0,
        smaller_factor_hist=dict(sorted(hist.items())),
        **{k: counts[k] / n if n else 0.0 for k in keys},
    )


_PRESETS = {
    "tiny": dict(t_min=10, t_max=999, n_train=256, n_test=64),
    "small": dict(t_min=100, t_max=99_999, n_train=6000, n_test=600),
    "paper": dict(t_min=1000, t_max=999_999, n_train=100_000, n_test=10_000),
}


@hookimpl
def looped_hrm_tasks() -> list[TaskSpec]:
    return [
        TaskSpec(
            name="arith_proof",
            factory=ArithProofTask,
            config=ArithProofConfig,
            presets=_PRESETS,
            revision=_CACHE_VERSION,
            description="write a proof 'a * b = I ; I + c = T' for a given T; label-free verifier of the "
            "arithmetic; bans trivial proofs; reports the (a, b) a model uses",
        )
    ]
