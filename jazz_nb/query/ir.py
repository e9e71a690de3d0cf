"""The query IR: a JSON-serialisable dict that round-trips a ``Query`` exactly.

Format (keys other than ``table`` are omitted when they hold their default)::

    {"version": 1, "table": "todos",
     "where": [{"column": "priority", "op": "gte", "value": 3}],
     "order_by": [{"column": "priority", "direction": "desc"}],
     "limit": 20, "offset": 0, "select": ["title", "$createdBy"],
     "include": {"project": {"table": "projects"}}, "include_deleted": true}

Values are JSON per column type: bytes as base64 text, timestamps as ints (ms for user
columns, µs for ``$createdAt``/``$updatedAt``), uuids as strings, json as the JSON value.

Example:
    >>> from jazz_nb.schema import define_app, table, string
    >>> app = define_app({"todos": table(title=string())})
    >>> query_to_ir(app.todos.where(title="x"))
    {'version': 1, 'table': 'todos', 'where': [{'column': 'title', 'op': 'eq', 'value': 'x'}]}
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from jazz_nb.errors import QueryError

if TYPE_CHECKING:
    from jazz_nb.query.builder import Query
    from jazz_nb.schema.app import App

IR_VERSION = 1
_KEYS = ("version", "table", "where", "order_by", "limit", "offset", "select", "include",
         "include_deleted")


def query_to_ir(query: Query) -> dict[str, Any]:
    """The IR of ``query`` (a fresh dict of JSON values)."""
    return {"version": IR_VERSION, **_body(query)}


def _body(q: Query) -> dict[str, Any]:
    ir: dict[str, Any] = {"table": q.table}
    if q.conditions:
        ir["where"] = [{"column": c.column, "op": c.op,
                        "value": q.column(c.column).encode(c.op, c.value)} for c in q.conditions]
    if q.ordering:
        ir["order_by"] = [{"column": k.column, "direction": k.direction} for k in q.ordering]
    for key, value in (("limit", q.row_limit), ("offset", q.row_offset)):
        if value is not None:
            ir[key] = value
    if q.selection is not None:
        ir["select"] = list(q.selection)
    if q.includes:
        ir["include"] = {name: _body(sub) for name, sub in q.includes}
    if q.with_deleted:
        ir["include_deleted"] = True
    return ir


def query_from_ir(app: App, ir: Any) -> Query:
    """Rebuild a query from IR, validating every table, column, operator and value."""
    if not isinstance(ir, Mapping) or not isinstance(ir.get("table"), str):
        raise QueryError(f"query IR must be an object with a 'table' name, got {ir!r}")
    unknown = [k for k in ir if k not in _KEYS]
    if unknown or ir.get("version", IR_VERSION) != IR_VERSION:
        raise QueryError(f"query IR of table {ir['table']!r}: unknown keys {unknown} or version "
                         f"{ir.get('version')!r} (expected {IR_VERSION})", table=ir["table"])
    q = app[ir["table"]]
    try:
        for cond in ir.get("where", ()):
            column = q.column(cond["column"])
            q = q.with_condition(column.name, cond["op"], column.decode(cond["op"], cond["value"]))
        for key in ir.get("order_by", ()):
            q = q.order_by(key["column"], key["direction"])
    except (KeyError, TypeError) as err:
        raise QueryError(f"query IR of table {q.table!r}: malformed condition or order key "
                         f"({err!r})", table=q.table) from None
    q = q.limit(ir.get("limit")).offset(ir.get("offset"))
    if "select" in ir:
        q = q.select(*ir["select"])
    for name, sub in (ir.get("include") or {}).items():
        q = q.include({name: query_from_ir(app, sub)})
    return q.include_deleted(ir.get("include_deleted", False) is True)
