"""Sync test fixtures: real server processes on loopback port 0, clients, a cuttable TCP proxy."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import jazz_nb as jz
from jazz_nb import s
from jazz_nb.auth.identity import generate_secret
from jazz_nb.policy import define_permissions
from jazz_nb.sync import connect, deploy, start_local_server
from jazz_nb.sync.process import LocalServer

ADMIN = "admin-secret"
BACKEND = "backend-secret"


def todo_app() -> s.App:
    return s.define_app({
        "projects": s.table(name=s.string()),
        "todos": s.table(title=s.string(), done=s.boolean(default=False),
                         priority=s.int().optional(), project_id=s.ref("projects").optional()),
    })


def open_rules(policy: Any) -> None:
    """Everyone reads and writes everything."""
    for table in ("projects", "todos"):
        rules = getattr(policy, table)
        rules.allow_read.always()
        rules.allow_insert.always()
        rules.allow_update.always()
        rules.allow_delete.always()


def creator_rules(policy: Any, is_creator: Any) -> None:
    """Projects are public; a todo is read and written by its creator only."""
    policy.projects.allow_read.always()
    policy.projects.allow_insert.always()
    policy.todos.managed_by_creator()


@pytest.fixture(autouse=True)
def _isolated(isolated_env: None) -> None:
    """Every test here runs with ``isolated_env`` (tests/conftest.py)."""


@pytest.fixture(scope="module")
def server() -> Iterator[LocalServer]:
    """One in-memory server per test module (tests use distinct app ids)."""
    with start_local_server(port=0, admin_secret=ADMIN, backend_secret=BACKEND) as running:
        yield running


@pytest.fixture
def app() -> s.App:
    return todo_app()


@pytest.fixture
def app_id() -> str:
    return f"t-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def clients(server: LocalServer, app: s.App, app_id: str) -> Iterator[Callable[..., jz.Db]]:
    """``clients(**kw)`` connects a new local-first client (closed after the test)."""
    opened: list[jz.Db] = []

    def make(**kw: Any) -> jz.Db:
        kw.setdefault("server_url", server.url)
        kw.setdefault("app_id", app_id)
        if not {"token", "backend_secret", "admin_secret", "secret"} & kw.keys():
            kw["secret"] = generate_secret()
        db = connect(kw.pop("app", app), **kw)
        opened.append(db)
        return db

    yield make
    for db in opened:
        db.close()


@pytest.fixture
def open_app(server: LocalServer, app: s.App, app_id: str) -> s.App:
    """``app`` deployed with open permissions."""
    deploy(server.url, app_id, admin_secret=ADMIN, app=app,
           permissions=define_permissions(app, open_rules))
    return app
