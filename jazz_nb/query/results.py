"""Run a compiled query and shape its result: Arrow tables, pandas frames and ``Row`` objects.

Arrow columns get the user-facing types in one vectorised cast: ids and uuids as strings,
user timestamps as ``timestamp[ms, tz=UTC]``, ``$createdAt``/``$updatedAt`` as
``timestamp[us, tz=UTC]``, json as text.

Example:
    >>> import duckdb
    >>> from jazz_nb.schema import define_app, table, string
    >>> from jazz_nb.query.sql import compile_query
    >>> from jazz_nb.store.layout import create_statements
    >>> app = define_app({"todos": table(title=string())})
    >>> conn = duckdb.connect()
    >>> for stmt in create_statements("todos", app.tables["todos"], app.schema_hash):
    ...     _ = conn.execute(stmt)
    >>> compiled = compile_query(app.todos)
    >>> run_arrow(conn, compiled).column_names
    ['id', 'title']
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from jazz_nb.query.columns import MicrosTimestamp
from jazz_nb.query.sql import Compiled, OutputColumn
from jazz_nb.schema import types as t

if TYPE_CHECKING:
    import duckdb
    import pandas as pd


def run_arrow(conn: duckdb.DuckDBPyConnection, compiled: Compiled, *,
              ids: Iterable[str] | None = None) -> pa.Table:
    """Execute ``compiled`` (with ``ids`` for an ``only_ids`` query) and return Arrow."""
    return cast_arrow(arrow_of(conn.sql(compiled.sql, params=compiled.bind(ids))),
                      compiled.columns)


def arrow_of(relation: duckdb.DuckDBPyRelation) -> pa.Table:
    """A DuckDB relation's rows as one Arrow table (``to_arrow_table``, before DuckDB 1.4
    ``fetch_arrow_table``).

    Example:
        >>> import duckdb
        >>> conn = duckdb.connect()  # kept: a relation does not keep its connection open
        >>> arrow_of(conn.sql("SELECT 1 AS x")).column_names
        ['x']
    """
    fetch = getattr(relation, "to_arrow_table", None) or relation.fetch_arrow_table
    return fetch()


def cast_arrow(table: pa.Table, columns: list[OutputColumn]) -> pa.Table:
    """Cast DuckDB's Arrow output (timestamps as int64) to the user-facing types."""
    pairs = zip(table.schema, columns, strict=True)
    schema = pa.schema([f.with_type(_arrow_type(f.type, c)) for f, c in pairs])
    return table if schema.equals(table.schema) else table.cast(schema)


def _arrow_type(actual: pa.DataType, column: OutputColumn) -> pa.DataType:
    if column.include is None:
        return _value_type(actual, column.type)
    struct = actual.value_type if column.include == "many" else actual
    pairs = zip(struct, column.children, strict=True)
    fields = [f.with_type(_arrow_type(f.type, c)) for f, c in pairs]
    if column.include == "many":
        return pa.list_(actual.value_field.with_type(pa.struct(fields)))
    return pa.struct(fields)


def _value_type(actual: pa.DataType, ctype: t.ColumnType | None) -> pa.DataType:
    if isinstance(ctype, MicrosTimestamp):
        return pa.timestamp("us", tz="UTC")
    if isinstance(ctype, t.Timestamp):
        return pa.timestamp("ms", tz="UTC")
    if isinstance(ctype, t.Array):
        element = _value_type(actual.value_type, ctype.element)
        return pa.list_(actual.value_field.with_type(element))
    return actual


def to_df(table: pa.Table) -> pd.DataFrame:
    """A pandas DataFrame indexed by ``id`` (works with pandas 2.2 and 3.x).

    Example: ``to_df(run_arrow(conn, compile_query(app.todos)))``
    """
    return table.to_pandas().set_index("id")


class Row(Mapping[str, Any]):
    """A read-only result row: a ``Mapping`` of its values (``id`` first) plus ``.id``.

    JSON values are parsed, timestamps are datetimes and includes are Rows (lists of Rows).
    A Row equals a dict with the same items.

    Example:
        >>> row = Row({"id": "0190", "title": "Buy milk"})
        >>> row.id, row["title"], row == {"id": "0190", "title": "Buy milk"}
        ('0190', 'Buy milk', True)
    """

    __slots__ = ("_values",)

    def __init__(self, values: Mapping[str, Any]) -> None:
        self._values = dict(values)

    @property
    def id(self) -> str:
        """The row id (lowercase hyphenated UUID)."""
        return self._values["id"]

    def __getitem__(self, key: str) -> Any:
        return self._values[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        return "Row(" + ", ".join(f"{k}={v!r}" for k, v in self._values.items()) + ")"

    def _repr_html_(self) -> str:
        cells = "".join(f"<tr><th style='text-align:left'>{html.escape(k)}</th>"
                        f"<td>{_html(v)}</td></tr>" for k, v in self._values.items())
        return f"<table class='jazz-row'>{cells}</table>"


def _html(value: Any) -> str:
    if isinstance(value, Row):
        return value._repr_html_()
    if isinstance(value, list) and value and all(isinstance(v, Row) for v in value):
        return "<ol>" + "".join(f"<li>{v._repr_html_()}</li>" for v in value) + "</ol>"
    return html.escape(repr(value))


def rows_from_arrow(table: pa.Table, compiled: Compiled) -> list[Row]:
    """The rows of a ``run_arrow`` result as ``Row`` objects, in result order."""
    return [Row(_record(rec, compiled.columns)) for rec in table.to_pylist()]


def _record(values: Mapping[str, Any], columns: Iterable[OutputColumn]) -> dict[str, Any]:
    return {c.name: _python(values[c.name], c) for c in columns}


def _python(value: Any, column: OutputColumn) -> Any:
    if value is None:
        return None
    if column.include == "one":
        return Row(_record(value, column.children))
    if column.include == "many":
        return [Row(_record(v, column.children)) for v in value]
    assert column.type is not None
    return column.type.to_python(value)
