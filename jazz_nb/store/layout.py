"""How a Jazz table lives in DuckDB: one visible table and one history table per schema version.

Visible table ``{table}__{hash12}`` (one row per row id, the merged current answer, §1.4):
``id``, the user columns, the magic columns ``$createdBy $createdAt $updatedBy $updatedAt``
(µs), and the engine columns ``_jz_batch`` (batch shown), ``_jz_frontier`` (tips; NULL means
``[_jz_batch]``), ``_jz_deleted`` (NULL, ``'soft'`` or ``'hard'``) and ``_jz_tier``.

History table ``{table}__{hash12}__history`` (every row version, §1.3): the engine columns
``_jz_row_id, _jz_batch_id, _jz_parents, _jz_updated_at, _jz_created_by, _jz_created_at,
_jz_updated_by, _jz_state, _jz_tier, _jz_delete_kind`` (prefixed so that a user column such as
``state`` cannot clash) and the user columns. User columns are nullable in storage; the schema
is checked on write. Versions are append-only except for ``_jz_state``/``_jz_tier``, which
follow their batch's fate. Batch ids are UUIDs in DuckDB and 32-hex strings in Python; frontiers
are sorted by batch id.

Values travel in their storage form (``types.ColumnType.coerce``): ``arrow_type`` gives the
Arrow type they are shipped in, ``write_expr`` casts them to the stored type (UUIDs travel as
text) and ``read_expr`` reads them back the same way.

Example:
    >>> visible_table("todos", "bfd77d25b0696da75df2ca82ab129c6289432decaaad8b86adcb31a366bdd217")
    'todos__bfd77d25b069'
"""

from __future__ import annotations

import pyarrow as pa

from jazz_nb.schema import types as t
from jazz_nb.schema.app import TableSchema

MAGIC_COLUMNS = ("$createdBy", "$createdAt", "$updatedBy", "$updatedAt")
ENGINE_COLUMNS = ("_jz_batch", "_jz_frontier", "_jz_deleted", "_jz_tier")
HISTORY_META = ("_jz_row_id", "_jz_batch_id", "_jz_parents", "_jz_updated_at", "_jz_created_by",
                "_jz_created_at", "_jz_updated_by", "_jz_state", "_jz_tier", "_jz_delete_kind")
TIERS = ("local", "edge", "global")  # stored as their index in _jz_tier / tier


def quote(name: str) -> str:
    """A DuckDB-quoted identifier.

    Example:
        >>> quote("$createdBy")
        '"$createdBy"'
    """
    return '"' + name.replace('"', '""') + '"'


def visible_table(table: str, schema_hash: str) -> str:
    """Physical name of the visible-rows table of ``table`` under one schema version.

    Example:
        >>> visible_table("todos", "ab" * 32)
        'todos__abababababab'
    """
    return f"{table}__{schema_hash[:12]}"


def history_table(table: str, schema_hash: str) -> str:
    """Physical name of the row-version history of ``table`` under one schema version.

    Example:
        >>> history_table("todos", "ab" * 32)
        'todos__abababababab__history'
    """
    return f"{table}__{schema_hash[:12]}__history"


def _user_columns_ddl(schema: TableSchema) -> list[str]:
    return [f"{quote(name)} {col.type.sql_type()}" for name, col in schema.columns.items()]


def create_statements(table: str, schema: TableSchema, schema_hash: str) -> list[str]:
    """``CREATE TABLE IF NOT EXISTS`` statements for both tables of one table version.

    Example:
        >>> from jazz_nb import s
        >>> create_statements("todos", s.table(title=s.string()), "ab" * 32)[0][:48]
        'CREATE TABLE IF NOT EXISTS "todos__abababababab"'
    """
    visible = [
        "id UUID PRIMARY KEY",
        *_user_columns_ddl(schema),
        '"$createdBy" VARCHAR NOT NULL', '"$createdAt" BIGINT NOT NULL',
        '"$updatedBy" VARCHAR NOT NULL', '"$updatedAt" BIGINT NOT NULL',
        "_jz_batch UUID NOT NULL", "_jz_frontier UUID[]", "_jz_deleted VARCHAR",
        "_jz_tier TINYINT",
    ]
    history = [
        *(f"{name} {ddl}" for name, ddl in zip(HISTORY_META, (
            "UUID NOT NULL", "UUID NOT NULL", "UUID[] NOT NULL", "BIGINT NOT NULL",
            "VARCHAR NOT NULL", "BIGINT NOT NULL", "VARCHAR NOT NULL", "VARCHAR NOT NULL",
            "TINYINT", "VARCHAR"), strict=True)),
        *_user_columns_ddl(schema),
        "PRIMARY KEY (_jz_row_id, _jz_batch_id)",
    ]
    return [
        f"CREATE TABLE IF NOT EXISTS {quote(visible_table(table, schema_hash))} "
        f"({', '.join(visible)})",
        f"CREATE TABLE IF NOT EXISTS {quote(history_table(table, schema_hash))} "
        f"({', '.join(history)})",
    ]


def arrow_type(column_type: t.ColumnType) -> pa.DataType:
    """The Arrow type a column's storage values travel in before DuckDB casts them.

    UUIDs travel as strings (``write_expr`` casts them); arrays as lists of their element.

    Example:
        >>> arrow_type(t.Array(t.Uuid()))
        ListType(list<item: string>)
    """
    if isinstance(column_type, t.Array):
        return pa.list_(arrow_type(column_type.element))
    if isinstance(column_type, t.Integer):
        return pa.int32()
    if isinstance(column_type, (t.BigInt, t.Timestamp)):
        return pa.int64()
    if isinstance(column_type, t.Double):
        return pa.float64()
    if isinstance(column_type, t.Boolean):
        return pa.bool_()
    if isinstance(column_type, t.Bytea):
        return pa.binary()
    return pa.string()  # Text, Enum, Json, Uuid


def user_arrow_schema(schema: TableSchema) -> pa.Schema:
    """The Arrow schema of a table's user columns in storage form, in declaration order.

    Example:
        >>> from jazz_nb import s
        >>> user_arrow_schema(s.table(n=s.int(), at=s.timestamp())).types
        [DataType(int32), DataType(int64)]
    """
    return pa.schema([pa.field(name, arrow_type(col.type)) for name, col in schema.columns.items()])


def _has_uuid(column_type: t.ColumnType) -> bool:
    if isinstance(column_type, t.Array):
        return _has_uuid(column_type.element)
    return isinstance(column_type, t.Uuid)


def read_sql_type(column_type: t.ColumnType) -> str:
    """The DuckDB type a stored column is read back as: its storage form (UUIDs as text).

    Example:
        >>> read_sql_type(t.Array(t.Uuid())), read_sql_type(t.Integer())
        ('VARCHAR[]', 'INTEGER')
    """
    if isinstance(column_type, t.Array):
        return read_sql_type(column_type.element) + "[]"
    return "VARCHAR" if isinstance(column_type, t.Uuid) else column_type.sql_type()


def write_expr(source: str, column_type: t.ColumnType) -> str:
    """SQL turning a storage-form value (column or ``?``) into the stored DuckDB type.

    Example:
        >>> write_expr('s."owner"', t.Uuid()), write_expr("?", t.Text())
        ('CAST(s."owner" AS UUID)', '?')
    """
    return f"CAST({source} AS {column_type.sql_type()})" if _has_uuid(column_type) else source


def read_expr(column: str, column_type: t.ColumnType) -> str:
    """SQL reading a stored column back in storage form (UUIDs as hyphenated text).

    Example:
        >>> read_expr('"owner"', t.Uuid())
        'CAST("owner" AS VARCHAR)'
    """
    if _has_uuid(column_type):
        return f"CAST({column} AS {read_sql_type(column_type)})"
    return column
