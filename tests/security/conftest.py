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
def _isolated(isolated_env: None) -> None:
    """Every test here runs with ``isolated_env`` (tests/conftest.py)."""


@pytest.fixture
def own_server(tmp_path: Path) -> Iterator[LocalServer]:
    """A server of its own: a test that may crash it, or measures its memory, shares it with
    nobody."""
    running = launch(tmp_path / "server.log")
    try:
        yield running
    finally:
        running.stop()


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
