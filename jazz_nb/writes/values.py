"""Checking written values against a table schema (Jazz's insert alignment, §2.3).

Example:
    >>> from jazz_nb import s
    >>> todos = s.table(title=s.string(), done=s.boolean(default=False))
    >>> insert_values("todos", todos, {"title": "milk"})
    {'title': 'milk', 'done': False}
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from jazz_nb.errors import SchemaError
from jazz_nb.schema.app import TableSchema


def _check_names(table: str, schema: TableSchema, values: Mapping[str, Any]) -> None:
    if not isinstance(values, Mapping):
        raise SchemaError(f"values for table {table!r} must be a mapping of column -> value, "
                          f"got {type(values).__name__}", table=table)
    for name in values:
        if name not in schema.columns:
            hint = " (set ids with id=...)" if name == "id" else ""
            raise SchemaError(f"unknown column {name!r} on table {table!r}{hint} "
                              f"(columns: {', '.join(schema.columns)})", table=table, column=name)


def insert_values(table: str, schema: TableSchema, values: Mapping[str, Any]) -> dict[str, Any]:
    """Full storage row for an insert: given value, else default, else NULL if optional."""
    _check_names(table, schema, values)
    row: dict[str, Any] = {}
    for name, column in schema.columns.items():
        if name in values:
            row[name] = column.coerce(values[name], f"{table}.{name}")
        elif column.has_default:
            row[name] = column.default
        elif column.nullable:
            row[name] = None
        else:
            raise SchemaError(f"missing required field {name!r} on table {table!r}",
                              table=table, column=name)
    return row


def update_values(table: str, schema: TableSchema, changes: Mapping[str, Any]) -> dict[str, Any]:
    """Storage values of the changed columns only (``None`` clears an optional column)."""
    _check_names(table, schema, changes)
    return {name: schema.columns[name].coerce(value, f"{table}.{name}")
            for name, value in changes.items()}
