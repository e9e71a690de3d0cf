"""Timing and the printed table every benchmark shares.

Example:
    >>> median_ms(lambda: None, repeat=3) >= 0
    True
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence


def timed(fn: Callable[[], object]) -> float:
    """Seconds one call of ``fn`` takes."""
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def median_ms(fn: Callable[[], object], repeat: int = 15,
              setup: Callable[[], object] | None = None) -> float:
    """Median milliseconds of ``repeat`` calls (``setup`` runs untimed before each)."""
    samples = []
    for _ in range(repeat):
        if setup is not None:
            setup()
        samples.append(timed(fn) * 1000)
    return statistics.median(samples)


def print_table(title: str, rows: Sequence[Sequence[object]],
                header: Sequence[str] = ("measure", "jazz_nb", "naive", "ratio", "target",
                                         "ok")) -> None:
    """Print rows as an aligned text table."""
    cells = [list(map(str, header))] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    line = "  ".join("-" * w for w in widths)
    print(f"\n{title}\n{line}")
    for i, row in enumerate(cells):
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)))
        if i == 0:
            print(line)
