"""Value checks of a decoded segment (vectorised with ``pyarrow.compute``).

Two kinds, with two fates:

* ``check_engine`` -- the history columns (ids, states, tiers, engine timestamps). No correct
  peer sends bad ones: ``ProtocolError`` ``malformed_frame`` (the connection is closed).
* ``check_user`` -- the user columns against the ``TableSchema``: what the local write path
  (``ColumnType.coerce``) would refuse and what readers cannot read back. A bad value makes the
  batch rejected (``InvalidValues``, code ``invalid_batch_submission``); the connection stays.

User column rules (``jazz_nb/schema/types.py`` storage forms):

* a required column is non-null, except in hard-delete versions (which carry no data);
* enum values are among the variants; uuid and ref values are canonical (lowercase hyphenated);
* json values are JSON text that Python's ``json`` reads back (``Json.to_python``) as a finite,
  encodable value: RFC 8259 (no NaN/Infinity, no trailing commas), nesting within Python's
  limit, no lone surrogates (canonical form -- sorted keys -- is not required: readers do not
  need it, and checking it costs a Python round trip per value);
* timestamps are ms in ``0 .. TIMESTAMP_MAX_MS`` (1970-01-01 .. 9999-12-31T23:59:59.999Z):
  ``Timestamp.coerce`` refuses times before 1970 and ``Timestamp.to_python`` (Python
  ``datetime``) cannot show years after 9999; DuckDB stores them as BIGINT and pandas reads
  them as ``datetime64[ms]``, both wider;
* array elements are non-null and follow the element type's rules.

Integer widths, UTF-8 text and bytes inside the frame are already guaranteed by the exact wire
types and ``validate(full=True)`` (``jazz_nb.sync.ipc``).

Example:
    >>> from jazz_nb import s
    >>> rows = pa.table({"_jz_delete_kind": pa.array([None], pa.string()),
    ...                  "kind": pa.array(["urgent"])})
    >>> check_user("todos", s.table(kind=s.enum("low", "high")), rows)
    Traceback (most recent call last):
    ...
    jazz_nb.sync.validate.InvalidValues: todos.kind: 'urgent' is not one of ['high', 'low'] \
(1 bad value) [invalid_batch_submission]
"""

from __future__ import annotations

import json
import os
import threading
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from jazz_nb.errors import ProtocolError
from jazz_nb.schema import types as t
from jazz_nb.schema.app import TableSchema
from jazz_nb.store.versions import UUID_TEXT
from jazz_nb.sync.protocol import error

TIMESTAMP_MAX_MS = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z, datetime's last ms
TIMESTAMP_MAX_US = TIMESTAMP_MAX_MS * 1000 + 999
UUID_RE = f"^{UUID_TEXT}$"
BATCH_RE = r"^[0-9a-f]{32}$"
STATES = ("StagingPending", "Superseded", "Rejected", "VisibleDirect", "VisibleTransactional")
# JSON texts DuckDB's json_valid accepts but Python's json may not read (matched anywhere, also
# inside strings: a match only means the exact check runs)
_JSON_SUSPECT = (r"(?i)(^|[\[,:])\s*[-+]?(nan|inf)|,\s*[\]}]|\\u[dD][89a-fA-F]|[0-9]{300}"
                 r"|[eE][-+]?[0-9]{3}|[\x{0}-\x{8}\x{b}\x{c}\x{e}-\x{1f}]")
_DEEP = 256  # brackets: Python's json recurses (about 1,000 levels at most)
_SCREEN_MIN = 64  # fewer distinct texts are checked exactly at once
_DUCK: dict[int, duckdb.DuckDBPyConnection] = {}  # by process id
_DUCK_LOCK = threading.Lock()
_REQUIRED_META = ("_jz_row_id", "_jz_batch_id", "_jz_parents", "_jz_updated_at",
                  "_jz_created_by", "_jz_created_at", "_jz_updated_by", "_jz_state")


class InvalidValues(ProtocolError):
    """User column values a store must not hold: the batch is rejected, the connection kept.

    ``header`` is the frame's header when ``decode_frame`` raised it (the batch id and part).

    Example:
        >>> InvalidValues("todos.title: null", table="todos", column="title").code
        'invalid_batch_submission'
    """

    def __init__(self, message: str, *, table: str, column: str) -> None:
        super().__init__(f"{message} [invalid_batch_submission]", code="invalid_batch_submission",
                         table=table, column=column)
        self.header: dict[str, Any] | None = None


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _first_bad(values: pa.Array | pa.ChunkedArray, ok: pa.Array | pa.ChunkedArray,
               ) -> tuple[Any, int] | None:
    """The first non-null value whose ``ok`` is false, and how many there are."""
    bad = pc.and_(pc.invert(pc.fill_null(ok, True)), pc.is_valid(values))
    count = pc.sum(bad).as_py() or 0
    if not count:
        return None
    return values.filter(bad)[0].as_py(), count


def check_engine(table: str, rows: pa.Table) -> None:
    """Refuse history columns no store could hold: ``malformed_frame``.

    Example:
        >>> rows = pa.table({"_jz_state": ["Lost"]})
        >>> check_engine("todos", rows)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        jazz_nb.errors.ProtocolError: segment of table 'todos': nulls in _jz_row_id ...
    """
    def fail(problem: str) -> ProtocolError:
        return error("malformed_frame", f"segment of table {table!r}: {problem}")

    for name in _REQUIRED_META:
        if name not in rows.column_names or rows.column(name).null_count:
            raise fail(f"nulls in {name}")
    parents = pc.list_flatten(rows.column("_jz_parents"))
    if parents.null_count:
        raise fail("null in _jz_parents")
    ids = [("_jz_row_id", rows.column("_jz_row_id"), UUID_RE),
           ("_jz_batch_id", rows.column("_jz_batch_id"), BATCH_RE),
           ("_jz_parents", parents, BATCH_RE)]
    for name, values, pattern in ids:
        found = _first_bad(values, pc.match_substring_regex(values, pattern))
        if found:
            raise fail(f"bad id {_shown(found[0])} in {name}")
    checks = [("_jz_state", pc.is_in(rows.column("_jz_state"), pa.array(STATES)), "state"),
              ("_jz_delete_kind", pc.is_in(rows.column("_jz_delete_kind"),
                                           pa.array(["soft", "hard"])), "delete kind")]
    for name, ok, what in checks:
        found = _first_bad(rows.column(name), ok)
        if found:
            raise fail(f"unknown {what} {_shown(found[0])} in {name}")
    for name, low, high in (("_jz_tier", 0, 2), ("_jz_updated_at", 0, TIMESTAMP_MAX_US),
                            ("_jz_created_at", 0, TIMESTAMP_MAX_US)):
        found = _out_of_range(rows.column(name), low, high)
        if found:
            raise fail(f"{name} {found[0]} is outside {low}..{high}")


def _out_of_range(values: pa.ChunkedArray | pa.Array, low: int, high: int,
                  ) -> tuple[Any, int] | None:
    bounds = pc.min_max(values)
    smallest, largest = bounds["min"].as_py(), bounds["max"].as_py()
    if smallest is None or (smallest >= low and largest <= high):
        return None
    return _first_bad(values, pc.and_(pc.greater_equal(values, low),
                                      pc.less_equal(values, high)))


def check_user(table: str, schema: TableSchema, rows: pa.Table) -> None:
    """Refuse user column values the schema does not allow: ``InvalidValues``.

    Example:
        >>> from jazz_nb import s
        >>> rows = pa.table({"_jz_delete_kind": ["hard", None], "title": [None, "x"]})
        >>> check_user("todos", s.table(title=s.string()), rows)  # a hard delete has no data
    """
    hard = None
    for name, column in schema.columns.items():
        values = rows.column(name)
        where = f"{table}.{name}"
        if not column.nullable and values.null_count:
            if hard is None:
                hard = pc.fill_null(pc.equal(rows.column("_jz_delete_kind"), "hard"), False)
            missing = pc.sum(pc.and_(pc.is_null(values), pc.invert(hard))).as_py()
            if missing:
                raise InvalidValues(f"{where}: null in a required column ({missing} rows)",
                                    table=table, column=name)
        problem = _type_problem(column.type, values)
        if problem:
            raise InvalidValues(f"{where}: {problem}", table=table, column=name)


def _type_problem(kind: t.ColumnType, values: pa.ChunkedArray | pa.Array) -> str | None:
    """What is wrong with the non-null ``values`` of a column of type ``kind``, if anything."""
    found: tuple[Any, int] | None = None
    if isinstance(kind, t.Enum):
        found = _first_bad(values, pc.is_in(values, pa.array(kind.variants, pa.string())))
        what = f"is not one of {list(kind.variants)}"
    elif isinstance(kind, t.Uuid):
        found = _first_bad(values, pc.match_substring_regex(values, UUID_RE))
        what = "is not a canonical (lowercase hyphenated) UUID"
    elif isinstance(kind, t.Timestamp):
        found = _out_of_range(values, 0, TIMESTAMP_MAX_MS)
        what = f"is outside 0..{TIMESTAMP_MAX_MS} ms (1970 to 9999)"
    elif isinstance(kind, t.Json):
        found = _bad_json(values)
        what = "is not JSON text Python reads back"
    elif isinstance(kind, t.Array):
        items = pc.list_flatten(values)
        if items.null_count:
            return f"null element in an array ({items.null_count} elements)"
        inner = _type_problem(kind.element, items)
        return None if inner is None else f"array element {inner}"
    if found is None:
        return None
    value, count = found
    return f"{_shown(value)} {what} ({count} bad value{'s' if count > 1 else ''})"


def _json_ok(text: str) -> bool:
    """Whether Python's ``json`` reads ``text`` back as a finite, UTF-8 encodable value."""
    try:
        t.canonical_json(json.loads(text, parse_constant=_no_constant)).encode()
    except (ValueError, RecursionError):  # not JSON, NaN/Infinity, too deep, lone surrogate
        return False
    return True


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _duckdb_invalid(values: pa.Array) -> list[str]:
    """The values DuckDB's ``json_valid`` refuses (vectorised, C++)."""
    with _DUCK_LOCK:
        conn = _DUCK.get(os.getpid())  # a forked child must not use its parent's threads
        if conn is None:
            conn = _DUCK[os.getpid()] = duckdb.connect()
        conn.register("_jz_json", pa.table({"v": values}))
        try:
            return [row[0] for row in conn.execute(
                "SELECT v FROM _jz_json WHERE NOT json_valid(v)").fetchall()]
        finally:
            conn.unregister("_jz_json")


def _bad_json(values: pa.ChunkedArray | pa.Array) -> tuple[Any, int] | None:
    """The first JSON text Python cannot read back, and how many.

    Each distinct text is checked once. Many are first screened in C++: DuckDB's
    ``json_valid`` plus patterns of what it accepts and Python does not (NaN/Infinity, trailing
    commas, deep nesting, huge numbers, surrogate escapes, control characters); the texts it
    refuses or that match a pattern get Python's exact check (``_json_ok``).
    """
    distinct = pc.unique(values.drop_null())
    if isinstance(distinct, pa.ChunkedArray):
        distinct = distinct.combine_chunks()
    if len(distinct) > _SCREEN_MIN:
        deep = pc.greater_equal(pc.add(pc.count_substring(distinct, "["),
                                       pc.count_substring(distinct, "{")), _DEEP)
        exact = pc.or_(pc.or_(pc.match_substring_regex(distinct, _JSON_SUSPECT), deep),
                       pc.is_in(distinct, pa.array(_duckdb_invalid(distinct), pa.string())))
        distinct = distinct.filter(exact)
    bad = [text for text in distinct.to_pylist() if not _json_ok(text)]
    if not bad:
        return None
    return _first_bad(values, pc.invert(pc.is_in(values, pa.array(bad, pa.string()))))
