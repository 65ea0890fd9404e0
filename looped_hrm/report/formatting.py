"""How the tables print a number: by the metric's kind (`catalogue.Kind`), with its interval, as markdown."""

from __future__ import annotations

import math

import pandas as pd
from tabulate import tabulate

from looped_hrm.report import intervals


def fmt(value: float | None, kind: str) -> str:
    """``value`` as a table prints a metric of ``kind`` (``—`` for none)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if kind == "pct":
        text = f"{100 * value:.1f}"
    elif kind == "int":
        text = f"{int(round(value)):,}"
    elif kind == "sci":
        text = f"{value:.3g}"
    else:
        text = f"{value:.2f}" if abs(value) < 100 else f"{value:.0f}"
    return text[1:] if text.startswith("-") and float(text.replace(",", "")) == 0 else text  # "-0.00": float noise


def ci_text(est: intervals.Estimate | None, kind: str) -> str:
    """``mean [low, high]``; ``mean [no CI: 2 seeds]`` below `intervals.MIN_SEEDS`; the interval is left
    out when it has no width at the printed precision (nothing varies)."""
    if est is None:
        return "—"
    text = fmt(est.mean, kind)
    if kind == "int":
        return text
    if not est.has_interval:
        return text + f" [no CI: {seeds_text(est.seeds)}]"
    low, high = fmt(est.low, kind), fmt(est.high, kind)
    return text if low == high == text else f"{text} [{low}, {high}]"


def seeds_text(n: int) -> str:
    return f"{n} seed" + ("" if n == 1 else "s")


def mean_std(values: pd.Series, kind: str) -> str:
    """``mean ± std`` over seeds (sample std; no ± for a single seed): for machine timings."""
    values = pd.to_numeric(values, errors="coerce").dropna()
    if values.empty:
        return "—"
    text = fmt(values.mean(), kind)
    if len(values) > 1 and kind != "int":
        text += f" ± {fmt(values.std(ddof=1), kind)}"
    return text


def markdown(frame: pd.DataFrame) -> str:
    """A frame as a GitHub markdown table, cells printed as they are."""
    if frame.empty:
        return "_no rows_\n"
    return tabulate(frame, headers="keys", tablefmt="github", showindex=False, disable_numparse=True) + "\n"
