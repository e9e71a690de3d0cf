"""Timing, the machine line and the printed table every benchmark shares.

Example:
    >>> median_ms(lambda: None, repeat=3) >= 0
    True
    >>> "cores" in machine_line()
    True
"""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
import time
from collections.abc import Callable, Sequence
from importlib import metadata
from pathlib import Path

VERSIONED = ("jazz_nb", "duckdb", "pandas", "pyarrow", "numpy", "websockets")


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


def cpu_model() -> str:
    """The processor's model name (``/proc/cpuinfo``), else what ``platform`` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith(("model name", "hardware", "cpu model")):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                             text=True, cwd=Path(__file__).parent, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return "?"
    return out.stdout.strip() or "?"


def machine_line() -> str:
    """One line naming the machine a figure was measured on: CPU, cores, load, versions.

    Example:
        >>> machine_line().startswith("machine: ")
        True
    """
    versions = []
    for name in VERSIONED:
        try:
            versions.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            continue
    load = "/".join(f"{x:.2f}" for x in os.getloadavg())
    return (f"machine: {cpu_model()}, {os.cpu_count()} cores, load {load}, "
            f"Python {platform.python_version()}, {', '.join(versions)}, commit {_commit()}")


def print_table(title: str, rows: Sequence[Sequence[object]],
                header: Sequence[str] = ("measure", "jazz_nb", "naive", "ratio", "target",
                                         "ok")) -> None:
    """Print rows as an aligned text table, under the machine line."""
    cells = [list(map(str, header))] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    line = "  ".join("-" * w for w in widths)
    print(f"\n{title}\n{machine_line()}\n{line}")
    for i, row in enumerate(cells):
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)))
        if i == 0:
            print(line)
