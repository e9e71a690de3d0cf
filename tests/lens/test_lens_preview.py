"""Previewing a lens before it is active, and the FROM items every compile context hands out.

The first preview a user makes is of a draft on a db with no lens yet: its source is a plain
table, and DuckDB 2 refuses that table name in parentheses (``FROM ("t") AS b``). These tests
run the compiled SQL itself on the installed DuckDB, so the lowest and newest legs
(tests/legs.sh) check the compiler's output against both ends of the allowed range.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import jazz_nb as jz
from jazz_nb import s
from jazz_nb.lens import Lens, migration
from jazz_nb.lens.preview import PreviewContext, view_context
from jazz_nb.lens.runtime import evolve
from jazz_nb.policy import define_permissions
from jazz_nb.query.sql import CompileContext


@pytest.fixture
def first(v1: s.App) -> Iterator[jz.Db]:
    """A db on v1 with rows and no lens at all (the first migration is still to come)."""
    with jz.create_db(v1, app_id="preview") as db:
        home = db.insert(v1.projects, {"name": "Home"})
        for i, title in enumerate(["milk", "bike", "tax"]):
            db.insert(v1.todos, {"title": title, "done": i == 1, "project_id": home.id})
        yield db


def test_a_draft_previews_on_a_db_with_no_lens(first: jz.Db, v1: s.App, v3: s.App) -> None:
    draft = migration(v1, v3)  # title -> text could be a rename: a draft
    assert draft.is_draft
    frame = first.preview_lens(draft, v3.todos.order_by("text"))
    assert list(frame.columns) == ["text", "done", "priority", "project_id"]
    assert frame["text"].tolist() == ["bike", "milk", "tax"]  # the suggested rename
    dropped = first.preview_lens(draft.remove_column("todos", "title"), v3.todos)
    assert dropped["text"].tolist() == ["", "", ""]  # no rename: text takes its default
    renamed = draft.rename_column("todos", "title", "text")
    frame = first.preview_lens(renamed, v3.todos.where(done=False).order_by("text", "desc"))
    assert frame["text"].tolist() == ["tax", "milk"]
    assert set(frame["priority"]) == {1}


def test_includes_filters_and_round_trips_run_in_the_target_shape(first: jz.Db, v1: s.App,
                                                                  v3: s.App) -> None:
    lens = migration(v1, v3).rename_column("todos", "title", "text")
    rows = first.preview_lens(lens, v3.todos.where(text={"in": ["milk", "bike"]})
                              .order_by("text").include(project=True))
    assert rows["text"].tolist() == ["bike", "milk"]
    assert [p["name"] for p in rows["project"]] == ["Home", "Home"]
    back = first.preview_lens(lens, v1.todos.order_by("title"), round_trip=True)
    assert back["title"].tolist() == ["bike", "milk", "tax"]


def test_previewing_from_a_db_that_already_reads_through_lenses(v1: s.App, v2: s.App,
                                                                v3: s.App,
                                                                lens12: Lens) -> None:
    """The base source is then a UNION subquery over schema versions, not a table name."""
    with jz.create_db(v1, app_id="preview-graph", migrations=[lens12]) as db1:
        db2 = evolve(db1, v2)
        db1.insert(v1.todos, {"title": "old"})
        db2.insert(v2.todos, {"title": "new", "priority": 5})
        assert view_context(db2, v2).source("todos").startswith("(")
        lens = migration(v2, v3).rename_column("todos", "title", "text")
        frame = db2.preview_lens(lens, v3.todos.order_by("priority", "desc"))
        assert frame[["text", "priority"]].values.tolist() == [["new", 5], ["old", 1]]


def _contexts(db: jz.Db, v1: s.App, v3: s.App) -> dict[str, CompileContext]:
    lens = migration(v1, v3).rename_column("todos", "title", "text")
    perms = define_permissions(v1, lambda policy: policy.todos.allow_read.where({}))
    scoped = jz.create_db(v1, app_id="preview-perms", permissions=perms)
    contexts = {
        "plain": CompileContext(v1.schema_hash),
        "policy": scoped.for_session(jz.Session("ann")).compile_context(),
        "preview": PreviewContext(v3.schema_hash, source_app=v1, target_app=v3,
                                  ops=lens.forward, base=view_context(db, v1)),
        "preview-empty": PreviewContext(v3.schema_hash, source_app=v1, target_app=v3,
                                        ops=lens.forward, base=None),
    }
    scoped.close()
    return contexts


@pytest.mark.parametrize("kind", ["plain", "policy", "preview", "preview-empty"])
def test_every_source_is_a_from_item_as_it_stands(first: jz.Db, v1: s.App, v3: s.App,
                                                  kind: str) -> None:
    ctx = _contexts(first, v1, v3)[kind]
    assert ctx is not None
    source = ctx.source("todos")
    assert not source.startswith('("'), f"a table name in parentheses: {source[:40]}"
    with first.store.lock:
        (count,) = first.store.conn.execute(f"SELECT count(*) FROM {source} AS x").fetchone()
    assert count == (0 if kind == "preview-empty" else 3)
