"""Golden tests of the SQL compiler: exact statements and parameters of representative queries."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest

from jazz_nb.errors import QueryError
from jazz_nb.query import CompileContext, compile_query, rows_from_arrow, run_arrow
from jazz_nb.schema.app import App
from tests.query.query_helpers import insert, uid


def tables(app: App) -> dict[str, str]:
    return {name: f'"{name}__{app.schema_hash[:12]}"' for name in app.tables}


def test_filters(app: App) -> None:
    q = (app.todos.select("title")
         .where(done=False, priority={"gte": 3, "lt": 9}, title={"ne": "x", "contains": "milk"})
         .where(project_id=None, part_ids={"contains": uid(1)}, id={"in": [uid(2)]}))
    compiled = compile_query(q)
    assert compiled.sql == (
        'SELECT t0.id, t0."title"\n'
        f'FROM {tables(app)["todos"]} AS t0\n'
        'WHERE t0._jz_deleted IS NULL AND t0."done" = $q0::BOOLEAN'
        ' AND t0."priority" >= $q1::INTEGER'
        ' AND (t0."priority" < $q2::INTEGER OR t0."priority" IS NULL)'
        ' AND t0."title" <> $q3::VARCHAR AND contains(t0."title", $q4::VARCHAR)'
        ' AND t0."project_id" IS NULL AND list_contains(t0."part_ids", $q5::UUID)'
        ' AND list_contains($q6::UUID[], t0.id)\n'
        'ORDER BY t0.id ASC'
    )
    assert compiled.params == {"q0": False, "q1": 3, "q2": 9, "q3": "x", "q4": "milk",
                               "q5": uid(1), "q6": [uid(2)]}
    assert compiled.ids_param is None


def test_nullable_ne_and_json_eq(app: App) -> None:
    compiled = compile_query(app.todos.select().where(priority={"ne": 2}, meta={"b": 1, "a": 2}))
    assert compiled.sql.splitlines()[2] == (
        'WHERE t0._jz_deleted IS NULL AND t0."priority" IS DISTINCT FROM $q0::INTEGER'
        ' AND t0."meta" = $q1::VARCHAR')
    assert compiled.params == {"q0": 2, "q1": '{"a":2,"b":1}'}


def test_order_limit_offset(app: App) -> None:
    q = app.todos.select("title").order_by("priority", "desc").order_by("title").limit(20)
    assert compile_query(q.offset(5)).sql == (
        'SELECT t0.id, t0."title"\n'
        f'FROM {tables(app)["todos"]} AS t0\n'
        'WHERE t0._jz_deleted IS NULL\n'
        'ORDER BY t0."priority" DESC NULLS LAST, t0."title" ASC, t0.id ASC\n'
        'LIMIT 20\n'
        'OFFSET 5'
    )
    assert compile_query(app.todos.select().order_by("id", "desc")).sql.endswith(
        "ORDER BY t0.id DESC")


def test_forward_include(app: App) -> None:
    sql = compile_query(app.todos.select("title").include(project=True)).sql
    assert sql.splitlines()[0] == (
        'SELECT t0.id, t0."title", (SELECT struct_pack("id" := t1.id, "name" := t1."name",'
        f' "archived" := t1."archived") FROM {tables(app)["projects"]} AS t1'
        ' WHERE t1.id = t0."project_id" AND t1._jz_deleted IS NULL) AS "project"')


def test_forward_array_include(app: App) -> None:
    parts = tables(app)["parts"]
    sql = compile_query(app.todos.select("title").include(parts=True)).sql
    assert sql.splitlines()[0] == (
        'SELECT t0.id, t0."title", CASE WHEN t0."part_ids" IS NULL THEN NULL ELSE (SELECT'
        ' coalesce(list(struct_pack("id" := t1.id, "label" := t1."label") ORDER BY u0.pos ASC),'
        ' []) FROM (SELECT unnest(t0."part_ids") AS ref, generate_subscripts(t0."part_ids", 1)'
        f' AS pos) AS u0 JOIN {parts} AS t1 ON t1.id = u0.ref WHERE t1._jz_deleted IS NULL)'
        ' END AS "parts"')
    sorted_sql = compile_query(app.todos.select("title").include(
        parts=app.parts.order_by("label", "desc").limit(2))).sql
    assert sorted_sql.splitlines()[0] == (
        'SELECT t0.id, t0."title", CASE WHEN t0."part_ids" IS NULL THEN NULL ELSE (SELECT'
        ' coalesce(list(s0.v ORDER BY s0.k0 DESC, s0.k1 ASC), []) FROM (SELECT'
        ' struct_pack("id" := t1.id, "label" := t1."label") AS v, t1."label" AS k0, t1.id AS k1'
        ' FROM (SELECT unnest(t0."part_ids") AS ref, generate_subscripts(t0."part_ids", 1)'
        f' AS pos) AS u0 JOIN {parts} AS t1 ON t1.id = u0.ref WHERE t1._jz_deleted IS NULL'
        ' ORDER BY k0 DESC, k1 ASC LIMIT 2) AS s0) END AS "parts"')


def test_reverse_include_with_where_order_limit(app: App) -> None:
    sub = app.todos.where(done=False).order_by("title").limit(3).select("title")
    compiled = compile_query(app.projects.select("name").include(todos_via_project=sub))
    assert compiled.sql == (
        'SELECT t0.id, t0."name", (SELECT coalesce(list(s0.v ORDER BY s0.k0 ASC, s0.k1 ASC),'
        ' []) FROM (SELECT struct_pack("id" := t1.id, "title" := t1."title") AS v,'
        f' t1."title" AS k0, t1.id AS k1 FROM {tables(app)["todos"]} AS t1'
        ' WHERE t1."project_id" = t0.id AND t1._jz_deleted IS NULL AND t1."done" = $q0::BOOLEAN'
        ' ORDER BY k0 ASC, k1 ASC LIMIT 3) AS s0) AS "todos_via_project"\n'
        f'FROM {tables(app)["projects"]} AS t0\n'
        'WHERE t0._jz_deleted IS NULL\n'
        'ORDER BY t0.id ASC'
    )
    assert compiled.params == {"q0": False}


def test_reverse_include_through_array_refs(app: App) -> None:
    sql = compile_query(app.parts.select().include(files_via_parts=app.files.select("name"))).sql
    assert sql.splitlines()[0] == (
        'SELECT t0.id, (SELECT coalesce(list(struct_pack("id" := t1.id, "name" := t1."name")'
        f' ORDER BY t1.id ASC), []) FROM {tables(app)["files"]} AS t1'
        ' WHERE list_contains(t1."part_ids", t0.id) AND t1._jz_deleted IS NULL)'
        ' AS "files_via_parts"')


def test_nested_include(app: App) -> None:
    names = tables(app)
    q = app.projects.select("name").include(
        todos_via_project=app.todos.select("title").include(project={"select": ["name"]}))
    assert compile_query(q).sql.splitlines()[0] == (
        'SELECT t0.id, t0."name", (SELECT coalesce(list(struct_pack("id" := t1.id,'
        ' "title" := t1."title", "project" := (SELECT struct_pack("id" := t2.id,'
        f' "name" := t2."name") FROM {names["projects"]} AS t2 WHERE t2.id = t1."project_id"'
        ' AND t2._jz_deleted IS NULL)) ORDER BY t1.id ASC), [])'
        f' FROM {names["todos"]} AS t1 WHERE t1."project_id" = t0.id AND t1._jz_deleted IS NULL)'
        ' AS "todos_via_project"')


def test_select_with_magic_columns(app: App) -> None:
    since = datetime(2024, 1, 1, tzinfo=UTC)
    q = (app.todos.select("title", "$createdBy", "$canRead")
         .where({"$createdAt": {"gte": since}}).order_by("$updatedAt", "desc"))
    compiled = compile_query(q)
    assert compiled.sql == (
        'SELECT t0.id, t0."title", t0."$createdBy", CAST(NULL AS BOOLEAN) AS "$canRead"\n'
        f'FROM {tables(app)["todos"]} AS t0\n'
        'WHERE t0._jz_deleted IS NULL AND t0."$createdAt" >= $q0::BIGINT\n'
        'ORDER BY t0."$updatedAt" DESC, t0.id ASC'
    )
    assert compiled.params == {"q0": 1_704_067_200_000_000}


def test_include_deleted(app: App) -> None:
    sql = compile_query(app.todos.select().include_deleted()).sql
    assert sql.splitlines()[2] == "WHERE t0._jz_deleted IS DISTINCT FROM 'hard'"


def test_only_ids(app: App) -> None:
    compiled = compile_query(app.todos.select("title").order_by("title").limit(5).offset(1),
                             only_ids=True)
    assert compiled.sql == (
        'SELECT t0.id, t0."title"\n'
        f'FROM {tables(app)["todos"]} AS t0\n'
        'WHERE t0._jz_deleted IS NULL AND t0.id IN (SELECT unnest($jz_ids::UUID[]))\n'
        'ORDER BY t0."title" ASC, t0.id ASC'
    )
    assert compiled.ids_param == "jz_ids"
    assert compiled.bind([uid(1)]) == {"jz_ids": [uid(1)]}
    with pytest.raises(QueryError, match="only_ids"):
        compiled.bind()
    with pytest.raises(QueryError, match="only_ids"):
        compile_query(app.todos).bind([uid(1)])


def test_only_ids_runs_on_the_given_rows(app: App, conn: Any) -> None:
    insert(conn, app, "todos", [{"id": uid(i), "title": f"t{i}"} for i in range(1, 5)])
    compiled = compile_query(app.todos.order_by("title", "desc").limit(1), only_ids=True)
    rows = rows_from_arrow(run_arrow(conn, compiled, ids=[uid(3), uid(1), uid(9)]), compiled)
    assert [r.id for r in rows] == [uid(3), uid(1)]


@dataclass(frozen=True)
class OwnerContext(CompileContext):
    """A permissions-like context: rows of ``owner`` only, and a computed ``$canRead``."""

    owner: str = "alice"

    def source(self, table: str) -> str:
        return f"(SELECT * FROM {super().source(table)})"

    def row_filter(self, table: str, alias: str) -> tuple[str, dict[str, Any]] | None:
        return f'{alias}."$createdBy" = $owner', {"owner": self.owner}

    def magic(self, table: str, alias: str, name: str) -> str | None:
        return f'({alias}."$createdBy" = $owner)' if name == "$canRead" else None


def test_context_plugs_in_source_row_filter_and_magic(app: App, conn: Any) -> None:
    names = tables(app)
    q = app.todos.select("title", "$canRead").include(project=app.projects.select("$canRead"))
    compiled = compile_query(q, context=OwnerContext(app.schema_hash))
    assert compiled.sql == (
        'SELECT t0.id, t0."title", (t0."$createdBy" = $owner) AS "$canRead", (SELECT'
        ' struct_pack("id" := t1.id, "$canRead" := (t1."$createdBy" = $owner))'
        f' FROM (SELECT * FROM {names["projects"]}) AS t1 WHERE t1.id = t0."project_id"'
        ' AND t1._jz_deleted IS NULL AND (t1."$createdBy" = $owner)) AS "project"\n'
        f'FROM (SELECT * FROM {names["todos"]}) AS t0\n'
        'WHERE t0._jz_deleted IS NULL AND (t0."$createdBy" = $owner)\n'
        'ORDER BY t0.id ASC'
    )
    assert compiled.params == {"owner": "alice"}
    insert(conn, app, "projects", [{"id": uid(10), "name": "P", "$createdBy": "bob"}])
    insert(conn, app, "todos", [{"id": uid(1), "title": "mine", "project_id": uid(10)},
                                {"id": uid(2), "title": "bob's", "$createdBy": "bob"}])
    rows = rows_from_arrow(run_arrow(conn, compiled), compiled)
    assert rows == [{"id": uid(1), "title": "mine", "$canRead": True, "project": None}]


def test_context_parameter_clash_is_reported(app: App) -> None:
    @dataclass(frozen=True)
    class Clashing(CompileContext):
        def row_filter(self, table: str, alias: str) -> tuple[str, dict[str, Any]] | None:
            return "$q0", {"q0": table}

    with pytest.raises(QueryError, match=r"\$q0 of table 'todos'"):
        compile_query(app.todos.where(done=True), context=Clashing(app.schema_hash))


def test_query_sql_method_shows_the_statement(app: App) -> None:
    q = app.todos.where(done=True)
    assert q.sql() == compile_query(q).sql
