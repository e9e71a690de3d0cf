"""Three versions of the quickstart schema and the lenses between them.

v1: projects + todos(title, done, project_id); v2 adds ``priority`` (default 1);
v3 renames ``title`` to ``text``.
"""

from __future__ import annotations

import pytest

from jazz_nb import s
from jazz_nb.lens import Lens, migration


def projects() -> s.TableSchema:
    return s.table(name=s.string())


def make_v1() -> s.App:
    return s.define_app({"projects": projects(), "todos": s.table(
        title=s.string(), done=s.boolean(default=False),
        project_id=s.ref("projects").optional())})


def make_v2() -> s.App:
    return s.define_app({"projects": projects(), "todos": s.table(
        title=s.string(), done=s.boolean(default=False), priority=s.int(default=1),
        project_id=s.ref("projects").optional())})


def make_v3() -> s.App:
    return s.define_app({"projects": projects(), "todos": s.table(
        text=s.string(), done=s.boolean(default=False), priority=s.int(default=1),
        project_id=s.ref("projects").optional())})


@pytest.fixture
def v1() -> s.App:
    return make_v1()


@pytest.fixture
def v2() -> s.App:
    return make_v2()


@pytest.fixture
def v3() -> s.App:
    return make_v3()


@pytest.fixture
def lens12(v1: s.App, v2: s.App) -> Lens:
    return migration(v1, v2)


@pytest.fixture
def lens23(v2: s.App, v3: s.App) -> Lens:
    return migration(v2, v3).rename_column("todos", "title", "text")
