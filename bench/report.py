"""The benchmarks' result tables: Markdown, numbers right-aligned and rounded to what a
reader compares, so a run's output pastes straight into RESULTS.md."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any


def fmt(value: Any) -> str:
    if isinstance(value, float):
        if abs(value) >= 100:
            return f"{value:,.0f}"
        if abs(value) >= 1:
            return f"{value:,.2f}"
        return f"{value:.3g}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def print_table(headers: Sequence[str], rows: Sequence[Sequence[Any]], title: str = "") -> None:
    """A Markdown table (pastes straight into RESULTS.md)."""
    if title:
        print(f"\n### {title}\n")
    cells = [[fmt(c) for c in row] for row in rows]
    left = [[isinstance(c, str) for c in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(headers)]
    print("| " + " | ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row, lefts in zip(cells, left, strict=True):
        padded = [
            c.ljust(w) if is_text else c.rjust(w)
            for c, w, is_text in zip(row, widths, lefts, strict=True)
        ]
        print("| " + " | ".join(padded) + " |")
    sys.stdout.flush()
