"""The main job: ``jazz-nb demo`` runs on the embedded sync server and shows live updates."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from jazz_nb import demo
from jazz_nb.sync.process import stop_embedded_server


@pytest.fixture
def embedded_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A private embedded-server and secret directory, stopped afterwards."""
    monkeypatch.setenv("JAZZ_NB_SERVER_DIR", str(tmp_path / "server"))
    monkeypatch.setenv("JAZZ_NB_SECRET_DIR", str(tmp_path / "secrets"))
    yield tmp_path
    stop_embedded_server(tmp_path / "server")


def test_demo_prints_queries_and_a_second_clients_live_updates(embedded_home: Path) -> None:
    for _ in range(2):  # a second run reuses the server and starts from the same rows
        lines: list[str] = []
        demo.run(out=lines.append)
        text = "\n".join(lines)
        assert "after marking 'Plan sprint' done" in text and "ORDER BY" in text
        assert "-- live frame of the second client: 1 added --" in text
        assert "-- live frame of the second client: 1 removed --" in text


def test_cli_demo_exits_cleanly(embedded_home: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "jazz_nb.cli", "demo"], capture_output=True,
                          text=True, timeout=180, check=False, env=dict(os.environ))
    assert done.returncode == 0, done.stderr
    assert "two clients connected to the embedded sync server" in done.stdout
