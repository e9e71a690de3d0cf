"""Include semantics of §3.4: forward refs, array refs and reverse lists, on real DuckDB rows."""

from __future__ import annotations

from typing import Any

import pytest

from jazz_nb.query import compile_query, rows_from_arrow, run_arrow
from jazz_nb.query.results import Row
from jazz_nb.schema.app import App
from tests.query.query_helpers import insert, uid

HOME, WORK, GONE, MISSING = uid(100), uid(101), uid(102), uid(199)
P1, P2, P3 = uid(201), uid(202), uid(203)


@pytest.fixture
def data(app: App, conn: Any) -> Any:
    insert(conn, app, "projects", [{"id": HOME, "name": "Home"}, {"id": WORK, "name": "Work"}])
    insert(conn, app, "projects", [{"id": GONE, "name": "Gone"}], deleted="soft")
    insert(conn, app, "parts", [{"id": P1, "label": "b"}, {"id": P2, "label": "a"}])
    insert(conn, app, "parts", [{"id": P3, "label": "deleted"}], deleted="soft")
    insert(conn, app, "todos", [
        {"id": uid(1), "title": "null fk", "project_id": None, "part_ids": None},
        {"id": uid(2), "title": "home", "project_id": HOME, "part_ids": [P2, MISSING, P1, P2]},
        {"id": uid(3), "title": "missing", "project_id": MISSING, "part_ids": []},
        {"id": uid(4), "title": "deleted target", "project_id": GONE, "part_ids": [P3, P1]},
        {"id": uid(5), "title": "home 2", "project_id": HOME, "done": True, "priority": 1},
    ])
    insert(conn, app, "todos", [{"id": uid(6), "title": "soft", "project_id": HOME}],
           deleted="soft")
    insert(conn, app, "todos", [{"id": uid(7), "title": "hard", "project_id": HOME}],
           deleted="hard")
    insert(conn, app, "files", [{"id": uid(50), "name": "f1", "part_ids": [P1]},
                                {"id": uid(51), "name": "f2", "part_ids": [P2, P1]}])
    return conn


def rows(conn: Any, query: Any) -> list[Row]:
    compiled = compile_query(query)
    return rows_from_arrow(run_arrow(conn, compiled), compiled)


def test_forward_scalar_null_fk_missing_and_deleted_targets(app: App, data: Any) -> None:
    got = rows(data, app.todos.select("title", "project_id").include(
        project=app.projects.select("name")))
    home = {"id": HOME, "name": "Home"}
    assert [(r["title"], r["project"]) for r in got] == [
        ("null fk", None), ("home", home), ("missing", None), ("deleted target", None),
        ("home 2", home)]
    assert got[2]["project_id"] == MISSING  # the FK column is kept


def test_forward_scalar_target_filtered_by_sub_query_is_null(app: App, data: Any) -> None:
    got = rows(data, app.todos.select().include(project=app.projects.where(name="Work")))
    assert {r["project"] for r in got} == {None}


def test_forward_array_refs_keep_array_order_and_skip_missing(app: App, data: Any) -> None:
    got = rows(data, app.todos.select().include(parts={"select": ["label"]}))
    labels = {r.id: None if r["parts"] is None else [p["label"] for p in r["parts"]]
              for r in got}
    assert labels == {uid(1): None, uid(2): ["a", "b", "a"], uid(3): [], uid(4): ["b"],
                      uid(5): None}


def test_forward_array_refs_with_their_own_order_and_limit(app: App, data: Any) -> None:
    got = rows(data, app.todos.where(id=uid(2)).select().include(
        parts=app.parts.order_by("label", "desc").limit(2)))
    assert [p.id for p in got[0]["parts"]] == [P1, P2]


def test_reverse_lists_with_where_order_limit(app: App, data: Any) -> None:
    sub = app.todos.select("title").order_by("title", "desc")
    got = rows(data, app.projects.select("name").include(todos_via_project=sub))
    assert got == [
        {"id": HOME, "name": "Home", "todos_via_project": [
            {"id": uid(5), "title": "home 2"}, {"id": uid(2), "title": "home"}]},
        {"id": WORK, "name": "Work", "todos_via_project": []},
    ]
    limited = rows(data, app.projects.select().include(
        todos_via_project=sub.where(done=False).limit(1)))
    assert [[t["title"] for t in r["todos_via_project"]] for r in limited] == [["home"], []]


def test_reverse_list_default_order_is_id_and_deleted_rows_only_on_request(
        app: App, data: Any) -> None:
    got = rows(data, app.projects.where(id=HOME).select().include(todos_via_project=True))
    assert [t.id for t in got[0]["todos_via_project"]] == [uid(2), uid(5)]
    with_deleted = rows(data, app.projects.where(id=HOME).select().include(
        todos_via_project=app.todos.include_deleted()))
    assert [t.id for t in with_deleted[0]["todos_via_project"]] == [uid(2), uid(5), uid(6)]


def test_reverse_through_array_refs(app: App, data: Any) -> None:
    got = rows(data, app.parts.select("label").include(files_via_parts={"select": ["name"]}))
    assert [(r["label"], [f["name"] for f in r["files_via_parts"]]) for r in got] == [
        ("b", ["f1", "f2"]), ("a", ["f2"])]


def test_nested_includes(app: App, data: Any) -> None:
    q = app.projects.where(id=HOME).select().include(
        todos_via_project=app.todos.select("title").limit(1).include(
            parts=app.parts.select("label"), project={"select": ["name"]}))
    (home,) = rows(data, q)
    (todo,) = home["todos_via_project"]
    assert todo == {"id": uid(2), "title": "home", "project": {"id": HOME, "name": "Home"},
                    "parts": [{"id": P2, "label": "a"}, {"id": P1, "label": "b"},
                              {"id": P2, "label": "a"}]}
    assert isinstance(todo, Row) and isinstance(todo["project"], Row)


def test_deleted_rows_leave_results_unless_included(app: App, data: Any) -> None:
    assert [r.id for r in rows(data, app.todos.select())] == [uid(i) for i in range(1, 6)]
    assert [r.id for r in rows(data, app.todos.select().include_deleted())] == [
        uid(i) for i in range(1, 7)]  # hard-deleted rows never come back
    got = rows(data, app.todos.where(id=uid(4)).select().include(
        project=app.projects.include_deleted().select("name")))
    assert got[0]["project"] == {"id": GONE, "name": "Gone"}
