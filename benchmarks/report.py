"""A measured figure, its target, and the table that shows them."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Figure:
    """One measured value. `target` reads like "≥ 5,000"; `met` is None when there is none."""

    name: str
    value: float
    unit: str
    target: str = ""
    met: bool | None = None
    note: str = ""

    def shown(self) -> str:
        if self.unit == "%":
            return f"{self.value:.1f} %"
        if self.value >= 100:
            number = f"{self.value:,.0f}"
        elif self.value >= 10:
            number = f"{self.value:.1f}"
        else:
            number = f"{self.value:.3g}"
        return f"{number} {self.unit}".strip()


def at_least(name: str, value: float, unit: str, floor: float, note: str = "") -> Figure:
    return Figure(name, value, unit, f"≥ {_num(floor)} {unit}".strip(), value >= floor, note)


def at_most(name: str, value: float, unit: str, ceiling: float, note: str = "") -> Figure:
    return Figure(name, value, unit, f"≤ {_num(ceiling)} {unit}".strip(), value <= ceiling, note)


def info(name: str, value: float, unit: str, note: str = "") -> Figure:
    return Figure(name, value, unit, note=note)


def _num(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:g}"


def percentile(samples: Sequence[float], pct: float) -> float:
    """The nearest-rank percentile: the smallest sample with `pct` % at or below it."""
    ordered = sorted(samples)
    rank = max(1, -(-len(ordered) * pct // 100))
    return ordered[int(rank) - 1]


def median(samples: Sequence[float]) -> float:
    return statistics.median(samples)


def table(figures: Sequence[Figure], markdown: bool = False) -> str:
    rows = [(f.name, f.shown(), f.target or "-", _verdict(f.met), f.note) for f in figures]
    header = ("measure", "result", "target", "met", "note")
    if markdown:
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(row) + " |" for row in rows]
        return "\n".join(lines)
    widths = [max(len(r[i]) for r in (header, *rows)) for i in range(len(header))]
    line = "  ".join(f"{{:<{w}}}" for w in widths)
    out = [line.format(*header), line.format(*("-" * w for w in widths))]
    out += [line.format(*row) for row in rows]
    return "\n".join(s.rstrip() for s in out)


def _verdict(met: bool | None) -> str:
    return {True: "yes", False: "NO", None: ""}[met]
