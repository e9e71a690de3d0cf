"""The query IR: exact JSON round-trips of random queries, the format, and malformed IR."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jazz_nb.errors import QueryError
from jazz_nb.query import Query, compile_query, run_arrow
from jazz_nb.query.columns import MAGIC_TYPES, MicrosTimestamp, resolve
from jazz_nb.schema import types as t
from jazz_nb.schema.app import App
from tests.query.query_helpers import THINGS_APP, create_tables, uid

JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.text(max_size=4),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner,
                                                                max_size=3),
    max_leaves=6).filter(lambda v: v is not None)  # a top-level None means SQL NULL
DATES = st.datetimes(min_value=datetime(1970, 1, 2), max_value=datetime(2200, 1, 1),
                     timezones=st.just(UTC))


def values(ctype: t.ColumnType) -> st.SearchStrategy[Any]:
    """User-form values of a column type."""
    if isinstance(ctype, MicrosTimestamp):
        return st.integers(0, 2**40) | DATES
    simple: dict[type, st.SearchStrategy[Any]] = {
        t.Text: st.text(max_size=6), t.Boolean: st.booleans(),
        t.Integer: st.integers(-(2**31), 2**31 - 1), t.BigInt: st.integers(-(2**63), 2**63 - 1),
        t.Double: st.floats(allow_nan=False, allow_infinity=False),
        t.Timestamp: st.integers(0, 2**45) | DATES, t.Uuid: st.uuids().map(str),
        t.Bytea: st.binary(max_size=6), t.Json: JSON,
    }
    if isinstance(ctype, t.Enum):
        return st.sampled_from(ctype.variants)
    if isinstance(ctype, t.Array):
        return st.lists(values(ctype.element), max_size=3)
    return simple[type(ctype)]


@st.composite
def conditions(draw: st.DrawFn, app: App, table: str) -> dict[str, Any]:
    name = draw(st.sampled_from(["id", *app.tables[table].columns, *MAGIC_TYPES]))
    column = resolve(app, table, name)
    op = draw(st.sampled_from(column.operators))
    operand = values(column.operand_type(op))
    value = draw({"is_null": st.booleans(), "in": st.lists(operand, max_size=3)}.get(op, operand))
    return {name: {op: value}}


@st.composite
def queries(draw: st.DrawFn, app: App, table: str, depth: int = 2,
            nested: bool = False) -> Query:
    q = app[table]
    for cond in draw(st.lists(conditions(app, table), max_size=4)):
        q = q.where(cond)
    columns = ["id", *app.tables[table].columns, *MAGIC_TYPES]
    for column in draw(st.lists(st.sampled_from(columns), max_size=2)):
        q = q.order_by(column, draw(st.sampled_from(["asc", "desc"])))
    q = q.limit(draw(st.none() | st.integers(0, 5)))
    if not nested:
        q = q.offset(draw(st.none() | st.integers(0, 5)))
    if draw(st.booleans()):
        q = q.select(*draw(st.lists(st.sampled_from(["*", *columns]), max_size=3)))
    if depth and draw(st.booleans()):
        rel = draw(st.sampled_from(sorted(app.relations[table])))
        target = app.relations[table][rel].target
        q = q.include({rel: draw(st.just(True) | queries(app, target, depth - 1, nested=True))})
    return q.include_deleted(draw(st.booleans()))


@pytest.fixture(scope="module")
def things() -> Iterator[duckdb.DuckDBPyConnection]:
    conn = duckdb.connect()
    create_tables(conn, THINGS_APP)
    yield conn
    conn.close()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(q=st.sampled_from(["things", "owners"]).flatmap(lambda n: queries(THINGS_APP, n)))
def test_random_queries_round_trip_and_compile(q: Query) -> None:
    text = q.to_json()
    assert json.loads(text) == q.to_ir()
    again = Query.from_json(THINGS_APP, text)
    assert again == q and again.to_json() == text
    assert Query.from_ir(THINGS_APP, q.to_ir()) == q
    assert compile_query(again).sql == compile_query(q).sql


@settings(max_examples=40, deadline=None, suppress_health_check=[
    HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(q=queries(THINGS_APP, "things"))
def test_random_queries_execute(things: duckdb.DuckDBPyConnection, q: Query) -> None:
    assert run_arrow(things, compile_query(q)).num_rows == 0


def test_ir_format(app: App) -> None:
    q = (app.todos.where(meta={"eq": {"k": [1]}}, due={"gte": 5}, project_id={"in": [uid(1)]})
         .where({"$updatedAt": {"lt": 7}}).order_by("due", "desc").limit(2).offset(1)
         .select("title").include(project=app.projects.select("name")).include_deleted())
    assert q.to_ir() == {
        "version": 1, "table": "todos",
        "where": [{"column": "meta", "op": "eq", "value": {"k": [1]}},
                  {"column": "due", "op": "gte", "value": 5},
                  {"column": "project_id", "op": "in", "value": [uid(1)]},
                  {"column": "$updatedAt", "op": "lt", "value": 7000}],
        "order_by": [{"column": "due", "direction": "desc"}],
        "limit": 2, "offset": 1, "select": ["title"],
        "include": {"project": {"table": "projects", "select": ["name"]}},
        "include_deleted": True,
    }
    blob = THINGS_APP.things.where(blob=b"\x00\xff", tags={"in": [["a"], []]})
    assert blob.to_ir()["where"] == [{"column": "blob", "op": "eq", "value": "AP8="},
                                     {"column": "tags", "op": "in", "value": [["a"], []]}]


@pytest.mark.parametrize(("ir", "message"), [
    ([], "must be an object with a 'table'"),
    ({"table": "nope"}, "unknown table 'nope'"),
    ({"table": "todos", "filter": []}, r"unknown keys \['filter'\]"),
    ({"version": 2, "table": "todos"}, "version 2"),
    ({"table": "todos", "where": [{"column": "title"}]}, "malformed condition"),
    ({"table": "todos", "where": [{"column": "nope", "op": "eq", "value": 1}]},
     "unknown column 'nope'"),
    ({"table": "todos", "where": [{"column": "title", "op": "gt", "value": "a"}]},
     "'gt' is not supported by todos.title"),
    ({"table": "todos", "where": [{"column": "priority", "op": "eq", "value": "1"}]},
     "todos.priority: expected a 32-bit integer"),
    ({"table": "todos", "where": [{"column": "$createdAt", "op": "eq", "value": "x"}]},
     "µs timestamp"),
    ({"table": "todos", "order_by": [{"column": "title", "direction": "up"}]}, "direction"),
    ({"table": "todos", "limit": -1}, "must be an int from 0"),
    ({"table": "todos", "include": {"nope": {"table": "todos"}}}, "unknown relation 'nope'"),
    ({"table": "todos", "include": {"project": {"table": "parts"}}},
     "needs a query of table 'projects'"),
])
def test_malformed_ir_raises_query_error(app: App, ir: Any, message: str) -> None:
    with pytest.raises(QueryError, match=message):
        Query.from_ir(app, ir)


def test_bytes_ir_must_be_base64() -> None:
    ir = {"table": "things", "where": [{"column": "blob", "op": "eq", "value": "!!"}]}
    with pytest.raises(QueryError, match=r"things\.blob: expected base64"):
        Query.from_ir(THINGS_APP, ir)
    with pytest.raises(QueryError, match="not valid JSON"):
        Query.from_json(THINGS_APP, "{")
