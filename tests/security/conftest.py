"""Fixtures of the hostile-client suite: real server processes on loopback, a deployed team.

``server`` is one in-memory server per module (tests deploy their own app ids, so attacks do
not see each other's rows); ``team`` is a freshly deployed ``Team`` on it. Tests that need
special flags or a data directory start their own server with ``peer.launch``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from jazz_nb.sync.process import LocalServer
from tests.security.peer import launch
from tests.security.team import Team


@pytest.fixture(autouse=True)
def isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test touches the developer's secrets or embedded server."""
    for name in ("JAZZ_NB_SECRET", "JAZZ_NB_SECRET_DIR", "JAZZ_ADMIN_SECRET",
                 "JAZZ_BACKEND_SECRET"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))
    monkeypatch.setenv("JAZZ_NB_SERVER_DIR", str(tmp_path / "embedded"))


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalServer]:
    """One in-memory server per test module (its stderr in the module's temp folder)."""
    log = tmp_path_factory.mktemp("server") / "server.log"
    running = launch(log)
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def team(server: LocalServer) -> Iterator[Team]:
    """The team app deployed under a fresh app id on the module's server."""
    deployed = Team.deploy(server)
    try:
        yield deployed
    finally:
        deployed.close()
