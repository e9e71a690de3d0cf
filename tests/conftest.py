"""Shared fixtures: the todo app and an embedded db on the real DuckDB store."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import jazz_nb as jz
from jazz_nb import s
from jazz_nb.demo import demo_app


@pytest.fixture
def app() -> s.App:
    """The demo schema: projects and todos with every common column kind."""
    return demo_app()


@pytest.fixture
def db(app: s.App) -> Iterator[jz.Db]:
    with jz.create_db(app, app_id="test-app") as database:
        yield database
