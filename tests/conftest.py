"""Shared fixtures: the todo app and an embedded db on the real DuckDB store."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import jazz_nb as jz
from jazz_nb import s


@pytest.fixture
def app() -> s.App:
    return s.define_app({
        "projects": s.table(name=s.string()),
        "todos": s.table(
            title=s.string(),
            done=s.boolean(default=False),
            priority=s.int().optional(),
            tags=s.array(s.string()).optional(),
            due=s.timestamp().optional(),
            project_id=s.ref("projects").optional(),
        ),
    })


@pytest.fixture
def db(app: s.App) -> Iterator[jz.Db]:
    with jz.create_db(app, app_id="test-app") as database:
        yield database
