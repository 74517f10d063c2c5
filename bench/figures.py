"""How the bench scripts take and print their figures: a call timed, and a small text table of
min and median per row."""

from __future__ import annotations

import statistics
import time


def table(rows: list[tuple[str, list[float]]], heading: str = "command", decimals: int = 0) -> str:
    """One line per (label, times in ms): the number of runs, the fastest and the median."""
    width = max(len(label) for label, _ in rows)
    lines = [f"{heading:<{width}}  {'runs':>5}  {'min ms':>9}  {'median ms':>9}"]
    for label, times in rows:
        lines.append(f"{label:<{width}}  {len(times):>5}  {min(times):>9.{decimals}f}  "
                     f"{statistics.median(times):>9.{decimals}f}")
    return "\n".join(lines)


def timed(fn, *args):
    """(seconds, result) of ``fn(*args)``, by the wall clock."""
    started = time.perf_counter()
    out = fn(*args)
    return time.perf_counter() - started, out
