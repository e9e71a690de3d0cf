"""One table version in DuckDB: the SQL that writes and reads its history and visible tables.

Rows travel in two forms. A handful of rows go as parameters of one statement (cheapest below
``SMALL`` rows); more go as a ``pyarrow`` table registered as ``_jz_src`` and read by one
``INSERT ... SELECT`` / ``UPDATE ... FROM``. The Arrow source names its engine fields like the
history table does (``_jz_`` prefix), so they never collide with user columns.

Example:
    >>> from jazz_nb import s
    >>> app = s.define_app({"todos": s.table(title=s.string(), done=s.boolean())})
    >>> PhysicalTable("todos", app.tables["todos"], app.schema_hash, True).visible
    '"todos__bfd77d25b069"'
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from typing import Any, Protocol

import pyarrow as pa

from jazz_nb.errors import WriteError
from jazz_nb.schema.app import TableSchema
from jazz_nb.store import layout as lay
from jazz_nb.store.versions import RowVersion, VisibleRow

SMALL = 4  # up to this many rows, parameterised statements beat an Arrow round trip (~8 here)
SOURCE = "_jz_src"
_UUIDS = pa.list_(pa.string())
_META_FIELDS = [
    pa.field("_jz_row_id", pa.string()), pa.field("_jz_batch_id", pa.string()),
    pa.field("_jz_parents", _UUIDS), pa.field("_jz_frontier", _UUIDS),
    pa.field("_jz_updated_at", pa.int64()), pa.field("_jz_created_by", pa.string()),
    pa.field("_jz_created_at", pa.int64()), pa.field("_jz_updated_by", pa.string()),
    pa.field("_jz_state", pa.string()), pa.field("_jz_tier", pa.int8()),
    pa.field("_jz_delete_kind", pa.string()),
]


class Record(Protocol):
    """What both ``RowVersion`` and ``VisibleRow`` offer to a visible-table write.

    Example:
        >>> v = RowVersion("todos", "r", "b" * 32, (), 1, "me", 1, "me", {})
        >>> all(hasattr(v, name) for name in Record.__annotations__)
        True
    """

    row_id: str
    batch_id: str
    data: dict[str, Any]
    created_by: str
    created_at: int
    updated_by: str
    updated_at: int
    delete_kind: Any
    tier: int | None


def _frontier(record: Record) -> list[str] | None:
    """Compact frontier: ``None`` when it is just the shown batch (and for a new version)."""
    frontier = getattr(record, "frontier", None)
    return None if frontier is None or tuple(frontier) == (record.batch_id,) else list(frontier)


class PhysicalTable:
    """The visible and history tables of ``name`` under one schema version.

    ``current`` says whether it is the store's own schema (its versions carry
    ``schema_hash == ""``).

    Example:
        >>> from jazz_nb import s
        >>> PhysicalTable("todos", s.table(title=s.string()), "ab" * 32, False).history
        '"todos__abababababab__history"'
    """

    def __init__(self, name: str, schema: TableSchema, schema_hash: str, current: bool) -> None:
        self.name = name
        self.schema = schema
        self.schema_hash = schema_hash
        self.version_hash = "" if current else schema_hash  # RowVersion.schema_hash
        self.visible = lay.quote(lay.visible_table(name, schema_hash))
        self.history = lay.quote(lay.history_table(name, schema_hash))
        self.columns = list(schema.columns)
        self._types = [col.type for col in schema.columns.values()]
        self._user_schema = lay.user_arrow_schema(schema)
        self._source_schema = pa.schema([*_META_FIELDS, *self._user_schema])
        self._user_struct = pa.struct(list(self._user_schema))

    # -- DDL and SQL text ----------------------------------------------------------------------
    def create_statements(self) -> list[str]:
        """``CREATE TABLE IF NOT EXISTS`` for both tables.

        Example:
            >>> from jazz_nb import s
            >>> t = PhysicalTable("todos", s.table(title=s.string()), "ab" * 32, True)
            >>> len(t.create_statements())
            2
        """
        return lay.create_statements(self.name, self.schema, self.schema_hash)

    @cached_property
    def _user(self) -> list[str]:
        return [lay.quote(c) for c in self.columns]

    @cached_property
    def _history_columns(self) -> str:
        return ", ".join([*lay.HISTORY_META, *self._user])

    @cached_property
    def _visible_columns(self) -> str:
        return ", ".join(["id", *self._user, *map(lay.quote, lay.MAGIC_COLUMNS),
                          *lay.ENGINE_COLUMNS])

    def _user_writes(self, source: str | None) -> list[str]:
        return [lay.write_expr(f"{source}.{q}" if source else "?", ty)
                for q, ty in zip(self._user, self._types, strict=True)]

    @cached_property
    def _history_row(self) -> str:
        return "(" + ", ".join(["CAST(? AS UUID)", "CAST(? AS UUID)", "CAST(? AS UUID[])",
                                *"???????", *self._user_writes(None)]) + ")"

    @cached_property
    def _visible_values(self) -> list[str]:
        """Placeholders of every visible column but ``id``, in ``_visible_targets`` order."""
        return [*self._user_writes(None), *"????", "CAST(? AS UUID)", "CAST(? AS UUID[])", "?",
                "?"]

    @cached_property
    def _visible_row(self) -> str:
        return "(" + ", ".join(["CAST(? AS UUID)", *self._visible_values]) + ")"

    @cached_property
    def _visible_from_source(self) -> list[str]:
        s = SOURCE
        return [*self._user_writes(s), f"{s}._jz_created_by", f"{s}._jz_created_at",
                f"{s}._jz_updated_by", f"{s}._jz_updated_at", f"CAST({s}._jz_batch_id AS UUID)",
                f"CAST({s}._jz_frontier AS UUID[])", f"{s}._jz_delete_kind", f"{s}._jz_tier"]

    @cached_property
    def _visible_targets(self) -> list[str]:
        return [*self._user, *map(lay.quote, lay.MAGIC_COLUMNS), *lay.ENGINE_COLUMNS]

    def insert_history_sql(self, rows: int | None) -> str:
        """Insert ``rows`` parameter rows, or (``None``) every row of the Arrow source.

        Example:
            >>> from jazz_nb import s
            >>> t = PhysicalTable("todos", s.table(title=s.string()), "ab" * 32, True)
            >>> t.insert_history_sql(None).endswith("FROM _jz_src")
            True
        """
        head = f"INSERT INTO {self.history} ({self._history_columns}) "
        if rows is not None:
            return head + "VALUES " + ", ".join([self._history_row] * rows)
        s = SOURCE
        return head + "SELECT " + ", ".join([
            f"CAST({s}._jz_row_id AS UUID)", f"CAST({s}._jz_batch_id AS UUID)",
            f"CAST({s}._jz_parents AS UUID[])", f"{s}._jz_updated_at", f"{s}._jz_created_by",
            f"{s}._jz_created_at", f"{s}._jz_updated_by", f"{s}._jz_state", f"{s}._jz_tier",
            f"{s}._jz_delete_kind", *self._user_writes(s)]) + f" FROM {s}"

    def insert_visible_sql(self, rows: int | None) -> str:
        """Insert new visible rows: ``rows`` parameter rows or the Arrow source.

        Example:
            >>> from jazz_nb import s
            >>> t = PhysicalTable("todos", s.table(title=s.string()), "ab" * 32, True)
            >>> t.insert_visible_sql(2).count("CAST(? AS UUID[])")
            2
        """
        head = f"INSERT INTO {self.visible} ({self._visible_columns}) "
        if rows is not None:
            return head + "VALUES " + ", ".join([self._visible_row] * rows)
        return (head + f"SELECT CAST({SOURCE}._jz_row_id AS UUID), "
                + ", ".join(self._visible_from_source) + f" FROM {SOURCE}")

    @cached_property
    def _history_reads(self) -> str:
        reads = [lay.read_expr(q, ty) for q, ty in zip(self._user, self._types, strict=True)]
        return ("CAST(_jz_row_id AS VARCHAR), replace(CAST(_jz_batch_id AS VARCHAR), '-', ''), "
                "_jz_parents, _jz_updated_at, _jz_created_by, _jz_created_at, _jz_updated_by, "
                f"_jz_state, _jz_tier, _jz_delete_kind, {', '.join(reads)}")

    @cached_property
    def _history_select(self) -> str:
        return f"SELECT {self._history_reads} FROM {self.history}"

    @cached_property
    def _visible_reads(self) -> str:
        reads = [lay.read_expr(q, ty) for q, ty in zip(self._user, self._types, strict=True)]
        return (f"CAST(id AS VARCHAR), {', '.join(reads)}, "
                + ", ".join(map(lay.quote, lay.MAGIC_COLUMNS))
                + ", replace(CAST(_jz_batch AS VARCHAR), '-', ''), _jz_frontier, _jz_deleted, "
                "_jz_tier")

    def select_history_sql(self, where: str) -> str:
        """History rows matching ``where``, decodable by ``decode_version``.

        Example:
            >>> from jazz_nb import s
            >>> t = PhysicalTable("todos", s.table(title=s.string()), "ab" * 32, True)
            >>> t.select_history_sql("true")[-46:]
            'FROM "todos__abababababab__history" WHERE true'
        """
        return f"{self._history_select} WHERE {where}"

    def select_visible_sql(self, where: str) -> str:
        """Visible rows matching ``where``, decodable by ``decode_visible``.

        Example:
            >>> from jazz_nb import s
            >>> t = PhysicalTable("todos", s.table(title=s.string()), "ab" * 32, True)
            >>> t.select_visible_sql("true").endswith('FROM "todos__abababababab" WHERE true')
            True
        """
        return f"SELECT {self._visible_reads} FROM {self.visible} WHERE {where}"

    # -- values --------------------------------------------------------------------------------
    def history_params(self, versions: Sequence[RowVersion]) -> list[Any]:
        """Flat parameters of ``insert_history_sql(len(versions))``.

        Example:
            >>> from jazz_nb import s
            >>> t = PhysicalTable("todos", s.table(title=s.string()), "ab" * 32, True)
            >>> v = RowVersion("todos", "r", "b" * 32, (), 2, "me", 1, "me", {"title": "x"})
            >>> t.history_params([v])[2:]
            [[], 2, 'me', 1, 'me', 'VisibleDirect', None, None, 'x']
        """
        out: list[Any] = []
        for v in versions:
            out += [v.row_id, v.batch_id, list(v.parents), v.updated_at, v.created_by,
                    v.created_at, v.updated_by, v.state, v.tier, v.delete_kind]
            out += [v.data.get(c) for c in self.columns]
        return out

    def visible_params(self, records: Sequence[Record]) -> list[Any]:
        """Flat parameters of ``insert_visible_sql(len(records))``.

        Example:
            >>> from jazz_nb import s
            >>> t = PhysicalTable("todos", s.table(title=s.string()), "ab" * 32, True)
            >>> v = RowVersion("todos", "r", "b" * 32, (), 2, "me", 1, "me", {"title": "x"})
            >>> t.visible_params([v])
            ['r', 'x', 'me', 1, 'me', 2, 'bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb', None, None, None]
        """
        out: list[Any] = []
        for r in records:
            out.append(r.row_id)
            out += [r.data.get(c) for c in self.columns]
            out += [r.created_by, r.created_at, r.updated_by, r.updated_at, r.batch_id,
                    _frontier(r), r.delete_kind, r.tier]
        return out

    def arrow(self, records: Sequence[Record]) -> pa.Table:
        """The Arrow source of ``records`` (versions or visible rows), explicitly typed.

        A value Arrow cannot hold in its column's type raises a ``WriteError`` naming the column.

        Example:
            >>> from jazz_nb import s
            >>> t = PhysicalTable("todos", s.table(title=s.string()), "ab" * 32, True)
            >>> v = RowVersion("todos", "r", "b" * 32, (), 2, "me", 1, "me", {"title": "x"})
            >>> t.arrow([v]).column("title").to_pylist()
            ['x']
        """
        n = len(records)
        versions = bool(records) and isinstance(records[0], RowVersion)
        columns: dict[str, Any] = {
            "_jz_row_id": [r.row_id for r in records],
            "_jz_batch_id": [r.batch_id for r in records],
            "_jz_parents": [r.parents for r in records] if versions else None,  # type: ignore[attr-defined]
            "_jz_frontier": None if versions else [_frontier(r) for r in records],
            "_jz_updated_at": [r.updated_at for r in records],
            "_jz_created_by": [r.created_by for r in records],
            "_jz_created_at": [r.created_at for r in records],
            "_jz_updated_by": [r.updated_by for r in records],
            "_jz_state": [r.state for r in records] if versions else None,  # type: ignore[attr-defined]
            "_jz_tier": [r.tier for r in records],
            "_jz_delete_kind": [r.delete_kind for r in records],
        }
        arrays = [pa.nulls(n, f.type) if columns[f.name] is None else
                  pa.array(columns[f.name], f.type) for f in _META_FIELDS]
        datas = [r.data for r in records]
        try:  # one C++ pass over the dicts instead of one Python pass per column
            arrays += pa.array(datas, self._user_struct).flatten()
        except (pa.ArrowException, TypeError, ValueError, OverflowError):
            for field in self._user_schema:  # find the column at fault for the message
                column_array(self.name, field.name, [d.get(field.name) for d in datas],
                             field.type)
            raise
        return pa.Table.from_arrays(arrays, schema=self._source_schema)

    def new_rows_source(self, ids: pa.Array, user: pa.Table, batch_id: str, author: str,
                        first_updated_at: int) -> pa.Table:
        """The Arrow source of brand-new rows of one batch, built column by column.

        ``user`` holds the user columns in storage form; each row gets the next µs timestamp.

        Example:
            >>> from jazz_nb import s
            >>> t = PhysicalTable("todos", s.table(title=s.string()), "ab" * 32, True)
            >>> src = t.new_rows_source(pa.array(["r1"]), pa.table({"title": ["x"]}),
            ...                         "b" * 32, "me", 5)
            >>> src.column("_jz_updated_at").to_pylist()
            [5]
        """
        n = len(ids)
        stamps = pa.array(range(first_updated_at, first_updated_at + n), pa.int64())
        meta = {
            "_jz_row_id": ids, "_jz_batch_id": pa.repeat(pa.scalar(batch_id), n),
            "_jz_parents": pa.array([[]] * n, _UUIDS), "_jz_frontier": pa.nulls(n, _UUIDS),
            "_jz_updated_at": stamps, "_jz_created_by": pa.repeat(pa.scalar(author), n),
            "_jz_created_at": stamps, "_jz_updated_by": pa.repeat(pa.scalar(author), n),
            "_jz_state": pa.repeat(pa.scalar("VisibleDirect"), n),
            "_jz_tier": pa.nulls(n, pa.int8()), "_jz_delete_kind": pa.nulls(n, pa.string()),
        }
        arrays = [meta[f.name] for f in _META_FIELDS]
        arrays += [user[f.name] for f in self._user_schema]
        return pa.Table.from_arrays(arrays, schema=self._source_schema)

    def decode_version(self, row: Sequence[Any]) -> RowVersion:
        """A ``RowVersion`` from a ``select_history_sql`` row.

        Example:
            >>> from jazz_nb import s
            >>> t = PhysicalTable("todos", s.table(title=s.string()), "ab" * 32, True)
            >>> row = ("r", "b" * 32, [], 2, "me", 1, "me", "VisibleDirect", None, None, "x")
            >>> t.decode_version(row).data
            {'title': 'x'}
        """
        data = {} if row[9] == "hard" else dict(zip(self.columns, row[10:], strict=True))
        return RowVersion(self.name, row[0], row[1], tuple(p.hex for p in row[2]), row[3],
                          row[4], row[5], row[6], data, row[7], row[8], row[9],
                          self.version_hash)

    def decode_visible(self, row: Sequence[Any]) -> VisibleRow:
        """A ``VisibleRow`` from a ``select_visible_sql`` row.

        Example:
            >>> from jazz_nb import s
            >>> t = PhysicalTable("todos", s.table(title=s.string()), "ab" * 32, True)
            >>> row = ("r", "x", "me", 1, "me", 2, "b" * 32, None, "soft", 1)
            >>> t.decode_visible(row).delete_kind, t.decode_visible(row).frontier == ("b" * 32,)
            ('soft', True)
        """
        n = len(self.columns)
        cb, ca, ub, ua, batch, frontier, deleted, tier = row[n + 1:]
        data = {} if deleted == "hard" else dict(zip(self.columns, row[1:n + 1], strict=True))
        front = (batch,) if frontier is None else tuple(b.hex for b in frontier)
        return VisibleRow(self.name, row[0], data, cb, ca, ub, ua, batch, front, deleted, tier)


def column_array(table: str, column: str, values: list[Any], ty: pa.DataType) -> pa.Array:
    """``pa.array(values, ty)`` with a ``WriteError`` naming the column on a bad value.

    Example:
        >>> column_array("todos", "n", [1, None], pa.int32()).null_count
        1
    """
    try:
        return pa.array(values, ty)
    except (pa.ArrowException, TypeError, ValueError, OverflowError) as err:
        raise WriteError(f"cannot store a value of {table}.{column} as {ty}: {err}",
                         table=table, column=column) from None
