"""Timing helpers and the result table.

Every figure is a median over repeated samples taken in the same process, so one slow
sample (a GC pause, a context switch) moves nothing; p95 is only shown where there are
enough samples for it to mean something.
"""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

# Below this many samples a 95th percentile is just "the maximum", so it is not printed.
MIN_SAMPLES_FOR_P95 = 20


class BenchError(RuntimeError):
    """A measured operation did not do what it should: its figure would be meaningless."""


def check(condition: bool, message: str) -> None:
    # Not `assert`: `python -O` would silently drop the checks that keep figures honest.
    if not condition:
        raise BenchError(message)


def median(samples: list[float]) -> float:
    return statistics.median(samples)


def p95(samples: list[float]) -> float | None:
    if len(samples) < MIN_SAMPLES_FOR_P95:
        return None
    return statistics.quantiles(samples, n=20, method="inclusive")[-1]


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


@contextmanager
def stopwatch() -> Iterator[list[float]]:
    """`with stopwatch() as elapsed:` leaves the block's duration in ms in `elapsed[0]`."""
    elapsed: list[float] = []
    start = time.perf_counter()
    try:
        yield elapsed
    finally:
        elapsed.append((time.perf_counter() - start) * 1000)


@dataclass(frozen=True)
class Row:
    label: str
    median: str
    p95: str
    unit: str
    note: str


@dataclass
class Table:
    sections: list[tuple[str, list[Row]]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def note(self, text: str) -> None:
        """A footnote: how a figure was taken, where that changes how to read it."""
        self.notes.append(text)

    def section(self, title: str) -> None:
        self.sections.append((title, []))

    def _add(self, row: Row) -> None:
        if not self.sections:
            self.section("")
        self.sections[-1][1].append(row)

    def timing(self, label: str, samples: list[float], unit: str = "ms", note: str = "") -> float:
        """A median (and p95) row for samples already in `unit`; returns the median."""
        mid = median(samples)
        high = p95(samples)
        count = f"n={len(samples)}"
        self._add(
            Row(label, fmt(mid), fmt(high) if high is not None else "–", unit, join(count, note))
        )
        return mid

    def value(self, label: str, value: float, unit: str, note: str = "") -> None:
        """A single derived figure (a rate computed from a whole measured batch)."""
        self._add(Row(label, fmt(value), "", unit, note))

    def ratio(self, label: str, numerator: float, denominator: float, note: str = "") -> None:
        """`numerator / denominator`, both in the same unit, written so that it reads as
        "how many times better": callers put the slower time or the higher rate on top."""
        text = f"{numerator / denominator:.1f}×" if denominator > 0 else "n/a"
        self._add(Row(f"RATIO {label}", text, "", "", note))

    def render(self) -> str:
        rows = [row for _, section in self.sections for row in section]
        widths = [
            max([len(h)] + [len(getattr(r, attr)) for r in rows])
            for h, attr in zip(HEADERS, ATTRS, strict=True)
        ]
        header = aligned(HEADERS, widths)
        out = [header, "─" * sum(widths, 2 * (len(widths) - 1))]
        for title, section in self.sections:
            if title:
                out.append(title)
            out.extend(aligned([getattr(row, attr) for attr in ATTRS], widths) for row in section)
        if self.notes:
            out.append("")
            out.extend(f"* {text}" for text in self.notes)
        return "\n".join(out)


def aligned(cells: tuple[str, ...] | list[str], widths: list[int]) -> str:
    """Text columns left-aligned, numbers right-aligned so their digits line up."""
    return "  ".join(
        cell.ljust(width) if index in TEXT_COLUMNS else cell.rjust(width)
        for index, (cell, width) in enumerate(zip(cells, widths, strict=True))
    ).rstrip()


HEADERS = ("measurement", "median", "p95", "unit", "notes")
ATTRS = ("label", "median", "p95", "unit", "note")
TEXT_COLUMNS = (0, 3, 4)


def fmt(value: float) -> str:
    """Three significant digits, thousands separated: enough to compare, not to mislead."""
    if value >= 100:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def join(*parts: str) -> str:
    return ", ".join(part for part in parts if part)
