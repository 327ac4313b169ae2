"""The result table (printed) and the same figures as JSON under var/bench/."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from bench.config import Target
from bench.stats import fmt, median, percentile

Stat = Literal["p50", "p95", "p99", "value"]
HEADERS = ("figure", "median", "p95", "n", "unit", "target", "ratio", "verdict")


@dataclass
class Row:
    section: str
    figure: str
    unit: str
    median: float | None = None
    p95: float | None = None
    p99: float | None = None
    n: int | None = None
    target: str = ""
    judged: Stat | None = None
    judged_value: float | None = None
    met: bool | None = None
    ratio: str = ""
    note: str = ""

    def cells(self) -> list[str]:
        verdict = ""
        if self.met is not None:
            verdict = "met" if self.met else "MISSED"
            if self.judged == "p99":
                verdict += f" (p99 {fmt(self.judged_value)})"
        elif self.target:
            verdict = "n/a"
        count = f"{self.n:,}" if self.n is not None else ""
        return [self.figure, fmt(self.median), fmt(self.p95) if self.p95 is not None else "",
                count, self.unit, self.target, self.ratio, verdict]  # fmt: skip


@dataclass
class Table:
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def timing(
        self, section: str, figure: str, samples: list[float], unit: str, *,
        target: Target | None = None, judge: Stat = "p50", ratio: str = "", note: str = "",
    ) -> Row:  # fmt: skip
        """A row of samples already in `unit`: median, p95 (and p99 for judging)."""
        row = Row(section, figure, unit, median(samples) if samples else None,
                  percentile(samples, 95), percentile(samples, 99), len(samples),
                  ratio=ratio, note=note)  # fmt: skip
        if target is not None:
            value = {"p50": row.median, "p95": row.p95, "p99": row.p99}.get(judge, row.median)
            self._judge(row, target, judge, value)
        self.rows.append(row)
        return row

    def value(
        self, section: str, figure: str, value: float | None, unit: str, *,
        n: int | None = None, target: Target | None = None, ratio: str = "", note: str = "",
    ) -> Row:  # fmt: skip
        row = Row(section, figure, unit, value, n=n, ratio=ratio, note=note)
        if target is not None:
            self._judge(row, target, "value", value)
        self.rows.append(row)
        return row

    @staticmethod
    def _judge(row: Row, target: Target, judge: Stat, value: float | None) -> None:
        row.target, row.judged, row.judged_value = target.text, judge, value
        row.met = None if value is None else target.met(value)

    def error(self, section: str, message: str) -> None:
        self.errors.append(f"{section}: {message}")
        first = message.splitlines()[0][:90] if message else "failed"
        self.rows.append(Row(f"{section}. error", f"ERROR: {first}", ""))

    def note(self, text: str) -> None:
        self.notes.append(text)

    def ordered(self) -> list[Row]:
        """By section number (stable): sections run in another order than they read."""
        return sorted(self.rows, key=lambda row: section_key(row.section))

    def render(self) -> str:
        rows = self.ordered()
        body = [row.cells() for row in rows]
        widths = [max(len(h), *(len(r[i]) for r in body)) for i, h in enumerate(HEADERS)]
        out = [aligned(list(HEADERS), widths), "─" * (sum(widths) + 2 * (len(widths) - 1))]
        section = None
        for row, cells in zip(rows, body, strict=True):
            if row.section != section:
                section = row.section
                out.append(section)
            out.append(aligned(cells, widths))
        notes = [f"{r.figure.strip()}: {r.note}" for r in rows if r.note] + self.notes
        if notes:
            out.append("")
            out.extend(f"* {text}" for text in notes)
        return "\n".join(out)

    def as_json(self) -> list[dict[str, Any]]:
        return [asdict(row) for row in self.ordered()]


NUMERIC = (1, 2, 3)


def section_key(section: str) -> int:
    head = section.split(".", 1)[0]
    return int(head) if head.isdigit() else 99


def aligned(cells: list[str], widths: list[int]) -> str:
    return "  ".join(
        cell.rjust(width) if index in NUMERIC else cell.ljust(width)
        for index, (cell, width) in enumerate(zip(cells, widths, strict=True))
    ).rstrip()


def write_json(directory: Path, document: dict[str, Any], *, quick: bool, partial: bool) -> Path:
    """`<timestamp>.json` plus `latest.json`; quick runs and runs of some sections only get
    `quick-…` / `partial-…` names, so `latest.json` is always a whole full-size run."""
    directory.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    prefix = "quick-" if quick else "partial-" if partial else ""
    text = json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    path = directory / f"{prefix}{stamp}.json"
    path.write_text(text)
    (directory / f"{prefix}latest.json").write_text(text)
    return path
