"""Timing helpers shared by the benchmarks.

Every figure is a median over repeated samples; p95/p99 are only given where there are
enough samples for them to mean something (below that they are just "the maximum").
"""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable

MIN_SAMPLES = {95: 20, 99: 100}


class BenchError(RuntimeError):
    """A measured operation did not do what it should: its figure would be meaningless."""


def check(condition: bool, message: str) -> None:
    # Not `assert`: `python -O` would silently drop the checks that keep figures honest.
    if not condition:
        raise BenchError(message)


def median(samples: list[float]) -> float:
    return statistics.median(samples)


def percentile(samples: list[float], pct: int) -> float | None:
    if len(samples) < MIN_SAMPLES.get(pct, 20):
        return None
    return statistics.quantiles(samples, n=100, method="inclusive")[pct - 1]


def repeat_ms(fn: Callable[[], object], times: int, *, warmup: int = 2) -> list[float]:
    """Call `fn` `times` times after `warmup` untimed calls; each call's duration in ms."""
    for _ in range(warmup):
        fn()
    gc.collect()  # start from a clean heap so an old collection does not land in the samples
    samples: list[float] = []
    for _ in range(times):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def fmt(value: float | None) -> str:
    """Three significant digits, thousands separated: enough to compare, not to mislead."""
    if value is None:
        return "–"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"
