"""Shared fixtures: the todo app and an embedded db on the real DuckDB store."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import jazz_nb as jz
from jazz_nb import s
from jazz_nb.demo import demo_app


@pytest.fixture
def isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test touches the developer's secrets or embedded server (sync and security tests
    use it on every test)."""
    for name in ("JAZZ_NB_SECRET", "JAZZ_NB_SECRET_DIR", "JAZZ_ADMIN_SECRET",
                 "JAZZ_BACKEND_SECRET"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))
    monkeypatch.setenv("JAZZ_NB_SERVER_DIR", str(tmp_path / "embedded"))


@pytest.fixture
def app() -> s.App:
    """The demo schema: projects and todos with every common column kind."""
    return demo_app()


@pytest.fixture
def db(app: s.App) -> Iterator[jz.Db]:
    with jz.create_db(app, app_id="test-app") as database:
        yield database
