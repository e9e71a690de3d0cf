"""Many inserts at once, column by column: the fast path behind ``db.insert_many``.

Rows arrive as a list of dicts, a DataFrame or an Arrow table; every schema column is checked
and converted to its storage type as a whole Arrow array (per-value Python only for types Arrow
cannot check, such as JSON), and row ids are UUIDv7s made in one numpy pass.

Example:
    >>> from jazz_nb import s
    >>> todos = s.table(title=s.string(), done=s.boolean(default=False))
    >>> storage_columns("todos", todos, [{"title": "a"}]).to_pylist()
    [{'title': 'a', 'done': False}]
"""

from __future__ import annotations

import os
import time
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from jazz_nb.errors import SchemaError
from jazz_nb.schema import types as t
from jazz_nb.schema.app import TableSchema
from jazz_nb.schema.columns import Column
from jazz_nb.store.layout import arrow_type
from jazz_nb.writes.values import insert_values

_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
_UUID_RE = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"


def uuid7_array(n: int) -> pa.Array:
    """``n`` fresh UUIDv7 strings (48-bit ms time, 12-bit sequence, random tail), in order.

    Example:
        >>> ids = uuid7_array(3).to_pylist()
        >>> ids == sorted(ids) and ids[0][14]
        '7'
    """
    raw = np.frombuffer(os.urandom(16 * n), dtype=np.uint8).reshape(n, 16).copy()
    ms = time.time_ns() // 1_000_000
    seq = np.arange(n, dtype=np.uint64)
    stamp = np.uint64(ms) + seq // 4096  # 4096 ids per millisecond keep them increasing
    for i in range(6):
        raw[:, i] = (stamp >> np.uint64(8 * (5 - i))) & np.uint64(0xFF)
    counter = seq % 4096
    raw[:, 6] = 0x70 | (counter >> np.uint64(8)).astype(np.uint8)
    raw[:, 7] = (counter & np.uint64(0xFF)).astype(np.uint8)
    raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80
    hexed = np.empty((n, 32), dtype=np.uint8)
    hexed[:, 0::2] = _HEX[raw >> 4]
    hexed[:, 1::2] = _HEX[raw & 0x0F]
    text = np.insert(hexed, [8, 12, 16, 20], ord("-"), axis=1)
    offsets = np.arange(0, 36 * (n + 1), 36, dtype=np.int32)
    return pa.Array.from_buffers(pa.string(), n, [None, pa.py_buffer(offsets),
                                                  pa.py_buffer(np.ascontiguousarray(text))])


def as_records(rows: Any) -> list[dict[str, Any]]:
    """Rows as a list of dicts (missing values of a DataFrame become ``None``).

    Example:
        >>> as_records(pd.DataFrame({"a": [1, None]}))
        [{'a': 1.0}, {'a': None}]
    """
    if isinstance(rows, pa.Table):
        return rows.to_pylist()
    if isinstance(rows, pd.DataFrame):
        return rows.astype(object).where(rows.notna(), None).to_dict("records")
    return list(rows)


def _uniform_dicts(rows: list[Any]) -> bool:
    """Whether every row is a dict with the same keys (so a missing key never means "default")."""
    if not all(isinstance(r, dict) for r in rows):
        raise SchemaError("insert_many takes dicts, a DataFrame or an Arrow table")
    keys = rows[0].keys() if rows else set()
    return all(r.keys() == keys for r in rows)


def _per_row(table: str, schema: TableSchema, rows: list[dict[str, Any]]) -> pa.Table:
    """The exact single-insert checks, row by row (mixed keys or mixed value types)."""
    stored = [insert_values(table, schema, r) for r in rows]
    return pa.table({name: pa.array([r[name] for r in stored], type=arrow_type(col.type))
                     for name, col in schema.columns.items()})


def _fast(column: Column, arr: pa.ChunkedArray) -> pa.ChunkedArray | None:
    """Vectorised conversion for the common types, or None to fall back to per-value checks."""
    kind, typ = column.type, arr.type
    if pa.types.is_null(typ):
        return pa.chunked_array([pa.nulls(len(arr), arrow_type(kind))])
    if isinstance(kind, (t.Text, t.Enum)) and pa.types.is_string(typ):
        if isinstance(kind, t.Enum):
            ok = pc.all(pc.or_kleene(pc.is_in(arr, pa.array(kind.variants)), pc.is_null(arr)))
            if not ok.as_py():
                return None
        return arr
    if isinstance(kind, (t.Integer, t.BigInt)) and pa.types.is_integer(typ):
        return arr.cast(arrow_type(kind))  # safe cast: overflow raises ArrowInvalid
    if isinstance(kind, t.Double) and (pa.types.is_integer(typ) or pa.types.is_floating(typ)):
        return arr.cast(pa.float64())
    if isinstance(kind, t.Boolean) and pa.types.is_boolean(typ):
        return arr
    if isinstance(kind, t.Timestamp):
        if pa.types.is_integer(typ):
            return arr.cast(pa.int64())
        if pa.types.is_timestamp(typ):
            return arr.cast(pa.timestamp("ms", tz=typ.tz)).cast(pa.int64())
    if isinstance(kind, t.Uuid) and pa.types.is_string(typ):
        if not pc.all(pc.or_kleene(pc.match_substring_regex(arr, _UUID_RE),
                                   pc.is_null(arr))).as_py():
            return None
        return pc.utf8_lower(arr)
    if isinstance(kind, t.Bytea) and pa.types.is_binary(typ):
        return arr
    return None


def _column(table: str, name: str, column: Column, arr: pa.ChunkedArray) -> pa.ChunkedArray:
    where = f"{table}.{name}"
    try:
        converted = _fast(column, arr)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        converted = None
    if converted is None:  # exact per-value checks with the column type's own messages
        values = [column.coerce(v, where) for v in arr.to_pylist()]
        return pa.chunked_array([pa.array(values, type=arrow_type(column.type))])
    if not column.nullable and converted.null_count:
        raise SchemaError(f"cannot set required field {where} to null", table=table,
                          column=name)
    return converted


def storage_columns(table: str, schema: TableSchema, rows: Any) -> pa.Table:
    """Every schema column of ``rows`` checked and in storage form (defaults filled in)."""
    if isinstance(rows, pd.DataFrame):
        data = pa.Table.from_pandas(rows, preserve_index=False)
    elif isinstance(rows, pa.Table):
        data = rows
    else:
        rows = list(rows)
        if not _uniform_dicts(rows):
            return _per_row(table, schema, rows)
        try:
            data = pa.Table.from_pylist(rows)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            return _per_row(table, schema, rows)
    unknown = [n for n in data.column_names if n not in schema.columns]
    if unknown:
        raise SchemaError(f"unknown column {unknown[0]!r} on table {table!r} "
                          f"(columns: {', '.join(schema.columns)})", table=table,
                          column=unknown[0])
    out: dict[str, pa.ChunkedArray] = {}
    for name, column in schema.columns.items():
        if name in data.column_names:
            out[name] = _column(table, name, column, data[name])
        elif column.has_default or column.nullable:
            fill = column.default if column.has_default else None
            out[name] = pa.chunked_array([pa.array([fill] * data.num_rows,
                                                   type=arrow_type(column.type))])
        else:
            raise SchemaError(f"missing required field {name!r} on table {table!r}",
                              table=table, column=name)
    return pa.table(out)

