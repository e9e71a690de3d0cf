"""Operator × column type matrix, NULLs included, against a Python reference of the semantics.

Every allowed operator must return exactly the ids the reference (Jazz's filter node, §3.2)
selects; every other operator must raise a QueryError naming the operator and the column.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import duckdb
import pytest

from jazz_nb.errors import QueryError
from jazz_nb.query import compile_query, rows_from_arrow, run_arrow
from jazz_nb.query.columns import OPERATORS, resolve
from jazz_nb.schema.app import App
from tests.query.query_helpers import THINGS_APP as APP
from tests.query.query_helpers import create_tables, insert, uid

U1, U2, U3 = uid(901), uid(902), uid(903)
ROWS: list[dict[str, Any]] = [
    dict(text="apple", flag=True, n=1, big=2**40, x=1.5, at=1000, uid=U1, blob=b"\x00\x01",
         kind="a", doc={"a": 1}, tags=["x", "y"], nums=[1, 2], owner_id=U1, title="one"),
    dict(text="Banana", flag=False, n=-5, big=-1, x=-2.25, at=0, uid=U2, blob=b"\xff", kind="b",
         doc=[1, 2], tags=["y"], nums=[3], owner_id=U2, title="two"),
    dict(text="pineapple", flag=True, n=7, big=0, x=0.5, at=5000, uid=U1, blob=b"", kind="c",
         doc="str", tags=[], nums=[], owner_id=U1, title="three"),
    dict(title="nulls"),
    dict(text="", flag=False, n=1, big=2**40, x=1.5, at=1000, uid=U3, blob=b"\x00", kind="a",
         doc={"a": 1}, tags=["x", "y"], nums=[1, 2], owner_id=U3, title="five"),
]
MAGIC = [("alice", 10), ("bob", 20), ("alice", 30), ("carol", 20), ("bob", 40)]  # by, at (µs)
# Operand values per column in user form: values present in ROWS plus one absent.
SAMPLES: dict[str, list[Any]] = {
    "text": ["apple", "Banana", "", "zz"], "flag": [True, False], "n": [1, -5, 0],
    "big": [2**40, -1, 5], "x": [1.5, -2.25, 0.0], "at": [1000, 0, 99],
    "uid": [U1, U3, uid(999)], "blob": [b"\x00\x01", b"", b"zz"], "kind": ["a", "c"],
    "doc": [{"a": 1}, [1, 2], "str", {"a": 2}], "tags": [["x", "y"], [], ["y", "x"]],
    "nums": [[1, 2], [3], [9]], "owner_id": [U1, uid(999)], "title": ["one", "zzz"],
    "id": [uid(1), uid(4), uid(999)], "$createdBy": ["alice", "bob", "zed"],
    "$createdAt": [10, 20, 25], "$canRead": [True, False],
}
CONTAINS: dict[str, list[Any]] = {
    "text": ["apple", "A", "an", "", "zz"], "$createdBy": ["ali", "b", "zz"],
    "tags": ["x", "y", "q"], "nums": [1, 3, 9], "title": ["e", "on", "q"],
}
ALLOWED = {
    "text": {"eq", "ne", "contains", "in", "is_null"}, "flag": {"eq", "ne", "in", "is_null"},
    "n": {"eq", "ne", "gt", "gte", "lt", "lte", "in", "is_null"},
    "big": {"eq", "ne", "gt", "gte", "lt", "lte", "in", "is_null"},
    "x": {"eq", "ne", "gt", "gte", "lt", "lte", "in", "is_null"},
    "at": {"eq", "ne", "gt", "gte", "lt", "lte", "in", "is_null"},
    "uid": {"eq", "ne", "in", "is_null"}, "blob": {"eq", "ne", "in", "is_null"},
    "kind": {"eq", "ne", "in", "is_null"}, "doc": {"eq", "ne", "in", "is_null"},
    "tags": {"eq", "contains", "in", "is_null"}, "nums": {"eq", "contains", "in", "is_null"},
    "owner_id": {"eq", "ne", "in", "is_null"}, "title": {"eq", "ne", "contains", "in"},
    "id": {"eq", "ne", "in"}, "$createdBy": {"eq", "ne", "contains", "in"},
    "$createdAt": {"eq", "ne", "gt", "gte", "lt", "lte", "in"},
    "$canRead": {"eq", "ne", "in", "is_null"},
}


@pytest.fixture(scope="module")
def things() -> Iterator[duckdb.DuckDBPyConnection]:
    conn = duckdb.connect()
    create_tables(conn, APP)
    for i, (row, (by, at)) in enumerate(zip(ROWS, MAGIC, strict=True), start=1):
        insert(conn, APP, "things", [{**row, "id": uid(i), "$createdBy": by, "$createdAt": at}])
    yield conn
    conn.close()


def stored_rows() -> dict[str, dict[str, Any]]:
    """Every row's storage values (as the query compares them), by id."""
    out = {}
    for i, (row, (by, at)) in enumerate(zip(ROWS, MAGIC, strict=True), start=1):
        values = {name: None for name in APP.tables["things"].columns}
        values.update({"id": uid(i), "$createdBy": by, "$createdAt": at, "$canRead": None})
        for name, value in row.items():
            values[name] = resolve(APP, "things", name).coerce("eq", value)
        out[uid(i)] = values
    return out


def reference(op: str, stored: Any, value: Any) -> bool:
    """Jazz's filter node: NULL never equals, ``ne`` matches NULL, NULL sorts below all."""
    if op == "is_null":
        return (stored is None) == value
    if op == "ne":
        return stored is None or stored != value
    if op in ("lt", "lte"):
        return stored is None or (stored < value if op == "lt" else stored <= value)
    if stored is None:
        return False
    return {"eq": lambda: stored == value, "gt": lambda: stored > value,
            "gte": lambda: stored >= value, "in": lambda: stored in value,
            "contains": lambda: value in stored}[op]()


def operands(column: str, op: str) -> list[Any]:
    samples = SAMPLES[column]
    if op == "is_null":
        return [True, False]
    if op == "contains":
        return CONTAINS[column]
    if op == "in":
        return [samples[:2], samples[-1:], []]
    return samples


def run_ids(conn: duckdb.DuckDBPyConnection, query: Any) -> list[str]:
    compiled = compile_query(query)
    return [row.id for row in rows_from_arrow(run_arrow(conn, compiled), compiled)]


CASES = [(c, op) for c in ALLOWED for op in OPERATORS]


@pytest.mark.parametrize(("column", "op"), CASES, ids=[f"{c}-{op}" for c, op in CASES])
def test_operator_matrix(things: duckdb.DuckDBPyConnection, column: str, op: str) -> None:
    rows = stored_rows()
    q = APP.things
    if op not in ALLOWED[column]:
        message = re.escape(f"'{op}' is not supported by things.{column}")
        with pytest.raises(QueryError, match=message) as err:
            q.where({column: {op: operands(column, "eq")[0]}})
        assert (err.value.operator, err.value.column, err.value.table) == (op, column, "things")
        return
    for value in operands(column, op):
        query = q.where({column: {op: value}})
        stored_value = query.conditions[0].value
        expected = [i for i, r in rows.items() if reference(op, r[column], stored_value)]
        assert run_ids(things, query) == expected, (column, op, value)


def test_the_matrix_covers_the_declared_operators() -> None:
    for column, allowed in ALLOWED.items():
        assert set(resolve(APP, "things", column).operators) == allowed, column


def test_null_shorthands(things: duckdb.DuckDBPyConnection) -> None:
    assert run_ids(things, APP.things.where(n=None)) == [uid(4)]
    assert run_ids(things, APP.things.where(n={"eq": None})) == [uid(4)]
    assert run_ids(things, APP.things.where(n={"ne": None})) == [uid(i) for i in (1, 2, 3, 5)]


def test_conditions_are_anded(things: duckdb.DuckDBPyConnection) -> None:
    q = APP.things.where(n={"gte": 0, "lt": 5}).where(flag=True)
    assert run_ids(things, q) == [uid(1)]


def test_magic_timestamps_take_ms_ints_and_exact_datetimes(things: Any) -> None:
    q = APP.things.where({"$createdAt": {"gte": datetime(1970, 1, 1, 0, 0, 0, 20,
                                                         tzinfo=UTC)}})
    assert run_ids(things, q) == [uid(2), uid(3), uid(4), uid(5)]
    assert q.conditions[0].value == 20
    assert APP.things.where({"$createdAt": 2}).conditions[0].value == 2000


def test_timestamp_values_accept_datetimes_and_iso_text(things: Any) -> None:
    at = datetime(1970, 1, 1, 0, 0, 1, tzinfo=UTC)
    assert run_ids(things, APP.things.where(at=at)) == [uid(1), uid(5)]
    assert run_ids(things, APP.things.where(at="1970-01-01T00:00:01Z")) == [uid(1), uid(5)]


def test_json_eq_compares_canonical_text(things: Any) -> None:
    assert run_ids(things, APP.things.where(doc={"eq": {"a": 1}})) == [uid(1), uid(5)]
    assert APP.things.where(doc={"b": 1, "a": 2}).conditions[0].value == '{"a":2,"b":1}'


def test_is_null_needs_a_nullable_column(app: App) -> None:
    with pytest.raises(QueryError, match=r"'is_null'.*todos\.title.*not nullable"):
        app.todos.where(title=None)
