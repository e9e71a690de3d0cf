"""The main job: ``jazz-nb demo`` runs end to end and shows live updates."""

from __future__ import annotations

import subprocess
import sys

from jazz_nb import demo


def test_demo_prints_queries_and_live_updates() -> None:
    lines: list[str] = []
    demo.run(out=lines.append)
    text = "\n".join(lines)
    assert "Write report" in text and "ORDER BY" in text
    assert "-- live frame: 1 added --" in text
    assert "-- live frame: 1 removed --" in text


def test_cli_demo_exits_cleanly() -> None:
    done = subprocess.run([sys.executable, "-m", "jazz_nb.cli", "demo"], capture_output=True,
                          text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert "jazz_nb demo" in done.stdout
