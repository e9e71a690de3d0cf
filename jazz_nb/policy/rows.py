"""Rows as policies see them, and the small DuckDB look-ups the write-path evaluator needs.

A policy row is a dict of storage values: ``id``, the user columns (UUIDs as lowercase text) and
the provenance columns ``$createdBy $createdAt $updatedBy $updatedAt`` (µs).

Example:
    >>> from jazz_nb.store.versions import VisibleRow
    >>> row = VisibleRow("todos", "0190a1b2-0000-7000-8000-000000000000", {"title": "a"}, "bob", 5,
    ...                  "bob", 6, "b" * 32, ("b" * 32,))
    >>> policy_row(row)["$createdBy"], policy_row(row)["id"][:8]
    ('bob', '0190a1b2')
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from jazz_nb.policy.cache import lookup_cache
from jazz_nb.policy.columns import columns_of
from jazz_nb.policy.values import UUID_TEXT
from jazz_nb.store.layout import quote, read_expr

if TYPE_CHECKING:
    from jazz_nb.schema.app import App
    from jazz_nb.store.store import Store
    from jazz_nb.store.versions import VisibleRow

PolicyRow = dict[str, Any]
PROVENANCE = ("$createdBy", "$createdAt", "$updatedBy", "$updatedAt")
_PARAM_TYPES = {"text": "VARCHAR", "uuid": "UUID", "int": "BIGINT", "bool": "BOOLEAN"}


def policy_row(row: VisibleRow) -> PolicyRow:
    """The policy row of a stored visible row."""
    return {**row.data, "id": row.row_id, "$createdBy": row.created_by,
            "$createdAt": row.created_at, "$updatedBy": row.updated_by,
            "$updatedAt": row.updated_at}


def new_row(data: dict[str, Any], row_id: str, author: str,
            old: VisibleRow | None = None) -> PolicyRow:
    """The policy row a write would leave: ``data`` stamped by ``author`` now (creation kept
    from ``old`` on update).

    Example:
        >>> new_row({"title": "a"}, "0190a1b2-0000-7000-8000-000000000000", "bob")["$updatedBy"]
        'bob'
    """
    now = time.time_ns() // 1000
    created = (old.created_by, old.created_at) if old is not None else (author, now)
    return {**data, "id": row_id, "$createdBy": created[0], "$createdAt": created[1],
            "$updatedBy": author, "$updatedAt": now}


class StoreRows:
    """Look-ups in the store's visible tables (through ``source``, the compile context's),
    memoised until a commit changes the table (``policy.cache``).

    Example:
        >>> # rows = StoreRows(db.store, app, context.source)
        >>> # rows.candidates("members", {"user_id": "bob"})
    """

    def __init__(self, store: Store, app: App, source: Callable[[str], str]) -> None:
        self._store = store
        self._app = app
        self._source = source
        self._selects: dict[str, tuple[str, list[str]]] = {}
        self._cache = lookup_cache(store)

    def _select(self, table: str) -> tuple[str, list[str]]:
        if table not in self._selects:
            columns = self._app.table(table).columns
            names = ["id", *columns, *PROVENANCE, "_jz_deleted"]
            reads = ["CAST(r.id AS VARCHAR)",
                     *(read_expr(f"r.{quote(n)}", c.type) for n, c in columns.items()),
                     *(f"r.{quote(n)}" for n in PROVENANCE), "r._jz_deleted"]
            sql = f"SELECT {', '.join(reads)} FROM {self._source(table)} AS r WHERE "
            self._selects[table] = sql, names
        return self._selects[table]

    def _rows(self, table: str, where: str, params: list[Any]) -> list[PolicyRow]:
        sql, names = self._select(table)

        def fetch() -> list[PolicyRow]:
            raw = self._store.conn.execute(sql + where, params).fetchall()
            return [dict(zip(names, values, strict=True)) for values in raw]

        with self._store.lock:
            return self._cache.get(table, (sql, where, tuple(params)), fetch)

    def get(self, table: str, row_id: Any) -> PolicyRow | None:
        """Row ``row_id`` of ``table`` unless missing or hard-deleted (soft-deleted rows count,
        as for Jazz's ``Inherits``)."""
        if not isinstance(row_id, str) or not UUID_TEXT.fullmatch(row_id):
            return None
        rows = self._rows(table, "r.id = CAST(? AS UUID) AND r._jz_deleted IS DISTINCT FROM "
                                 "'hard'", [row_id])
        return rows[0] if rows else None

    def candidates(self, table: str, equal: dict[str, Any]) -> list[PolicyRow]:
        """Live (not deleted) rows of ``table`` whose columns equal ``equal`` (a pre-filter:
        the caller still evaluates the full condition)."""
        columns = columns_of(self._app, table)
        where = ["r._jz_deleted IS NULL"]
        params = []
        for name, value in equal.items():
            sql_type = _PARAM_TYPES[columns[name].kind]
            where.append(f"r.{quote(name)} = CAST(? AS {sql_type})")
            params.append(value)
        return self._rows(table, " AND ".join(where), params)

    def referencing(self, table: str, column: str, row_id: Any,
                    is_array: bool) -> list[PolicyRow]:
        """Live rows of ``table`` whose foreign key ``column`` holds ``row_id``."""
        link = (f"list_contains(r.{quote(column)}, CAST(? AS UUID))" if is_array
                else f"r.{quote(column)} = CAST(? AS UUID)")
        return self._rows(table, f"r._jz_deleted IS NULL AND {link}", [row_id])
