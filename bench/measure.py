"""Timing helpers: medians of repetitions, so that one slow repetition on a shared machine does
not move a figure.

Each repetition starts after a full garbage collection (untimed). A full collection walks every
object of the process, so its pause depends on everything the benchmark holds (three Dagster
instances, their backlogs) and it falls on whichever repetition crosses the collector's
threshold: 100 to 300 ms here, on catch-ups of 300 to 800 ms. Starting each repetition from the
same state keeps such pauses from landing on one side of a ratio by chance; the collections a
repetition's own garbage triggers still count.
"""

from __future__ import annotations

import gc
import statistics
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Rate:
    """Median items per second over `repeat` repetitions that each handled `count` items."""

    per_second: float
    count: int
    repeat: int
    paired: float | None = None
    """With a reference: the median, over the repetitions, of each one's rate over the
    reference's rate measured just before it (see `median_rate`)."""

    def ratio(self, other: Rate) -> float:
        return self.per_second / other.per_second if other.per_second else float("nan")


def median_rate(
    action: Callable[[], int],
    repeat: int,
    check: Callable[[int], None] | None = None,
    reference: Callable[[], int] | None = None,
) -> Rate:
    """Runs `action` (which returns how many items it handled) `repeat` times; `check`, given
    that count, runs untimed after each repetition.

    With a `reference` (the raw read), each repetition is preceded by one of the reference, and
    the ratio is taken pair by pair: a shared machine's speed drifts by a third within a minute
    (make bench, 2026-12-03), so a ratio of two medians measured a minute apart moves with it."""
    rates, ratios, counts = [], [], set()
    for _ in range(repeat):
        base = _timed(reference)[1] if reference is not None else None
        count, rate = _timed(action)
        if check is not None:
            check(count)
        counts.add(count)
        rates.append(rate)
        if base is not None:
            ratios.append(rate / base)
    if len(counts) != 1:
        # Every repetition must do the same work, or their median means nothing.
        raise RuntimeError(f"repetitions handled different numbers of items: {sorted(counts)}")
    paired = statistics.median(ratios) if ratios else None
    return Rate(statistics.median(rates), counts.pop(), repeat, paired)


def _timed(action: Callable[[], int]) -> tuple[int, float]:
    """How many items `action` handled, and how many a second, after a full collection."""
    gc.collect()
    start = time.perf_counter()
    count = action()
    elapsed = time.perf_counter() - start
    return count, count / elapsed if elapsed > 0 else float("inf")


def python_peak_bytes(action: Callable[[], object]) -> int:
    """Peak of Python's own allocations while `action` runs (tracemalloc: slow, so untimed)."""
    tracemalloc.start()
    try:
        action()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def fmt_rate(rate: Rate, unit: str = "records/s") -> str:
    return f"{rate.per_second:>9,.0f} {unit}"
