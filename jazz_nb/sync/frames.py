"""Binary frames: a JSON header and row versions as Arrow IPC streams, one segment per table.

Layout (docs/protocol.md)::

    b"JZB1" | u32 big-endian header length | header JSON | segment 0 | segment 1 | ...

The header is ``{"type": "batch"|"rows", ..., "segments": [{"table", "schema_hash", "bytes"}]}``;
each segment is an Arrow IPC stream whose schema is ``wire_schema(table)``: the history columns
of the store (``_jz_row_id``, ``_jz_batch_id``, ``_jz_parents``, ...) then the user columns in
storage form. ``decode_frame`` treats the bytes as hostile: it checks lengths, magic and
header, reads every segment through ``jazz_nb.sync.ipc`` (schema first, metadata bounds, a
decompressed-bytes budget, ``validate(full=True)``) and the values through
``jazz_nb.sync.validate``; it raises only ``ProtocolError`` (``malformed_frame``,
``limit_exceeded``, ``unknown_table``, ``unknown_schema``, or ``InvalidValues`` for a batch to
reject) and never crashes the process.

Example:
    >>> from jazz_nb import s
    >>> from jazz_nb.store.versions import RowVersion
    >>> app = s.define_app({"todos": s.table(title=s.string())})
    >>> v = RowVersion("todos", "01900000-0000-7000-8000-000000000001", "ab" * 16, (), 5,
    ...                "me", 5, "me", {"title": "x"})
    >>> apps = {app.schema_hash: app}
    >>> data = encode_frame({"type": "rows"}, versions_segments([v], app.schema_hash, apps))
    >>> header, segments = decode_frame(data, apps)
    >>> segment_versions(segments[0], app.table("todos"), app.schema_hash) == [v]
    True
"""

from __future__ import annotations

import json
import reprlib
import struct
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import pyarrow as pa

from jazz_nb.schema.app import App, TableSchema
from jazz_nb.store.layout import user_arrow_schema
from jazz_nb.store.versions import RowVersion
from jazz_nb.sync.ipc import Budget, read_stream
from jazz_nb.sync.protocol import error
from jazz_nb.sync.validate import BATCH_RE as BATCH_RE  # the server imports it from here
from jazz_nb.sync.validate import InvalidValues, check_engine, check_user

MAGIC = b"JZB1"
COMPRESS_MIN_BYTES = 256 * 1024  # smaller segments (one write's rows) go uncompressed
MAX_DECOMPRESSED_BYTES = 128 * 1024 * 1024  # default bound of a frame's Arrow bodies, unpacked
MAX_CHUNKS = 16  # a segment of more chunks is sent as one record batch (see ipc.MAX_MESSAGES)
_COMPRESSED = pa.ipc.IpcWriteOptions(compression="zstd")
_HEAD = struct.Struct(">4sI")
META = pa.schema([
    pa.field("_jz_row_id", pa.string(), nullable=False),
    pa.field("_jz_batch_id", pa.string(), nullable=False),
    pa.field("_jz_parents", pa.list_(pa.string()), nullable=False),
    pa.field("_jz_updated_at", pa.int64(), nullable=False),
    pa.field("_jz_created_by", pa.string(), nullable=False),
    pa.field("_jz_created_at", pa.int64(), nullable=False),
    pa.field("_jz_updated_by", pa.string(), nullable=False),
    pa.field("_jz_state", pa.string(), nullable=False),
    pa.field("_jz_tier", pa.int8()),
    pa.field("_jz_delete_kind", pa.string()),
])


@dataclass(frozen=True)
class Segment:
    """Row versions of one table under one schema version, as an Arrow table.

    Example:
        >>> Segment("todos", "ab" * 32, pa.table({"x": [1]})).rows.num_rows
        1
    """

    table: str
    schema_hash: str
    rows: pa.Table
    fresh: bool = False  # rows new to the receiver: their versions extend nothing it has


def wire_schema(schema: TableSchema) -> pa.Schema:
    """The Arrow schema of a table's row versions on the wire.

    Example:
        >>> from jazz_nb import s
        >>> wire_schema(s.table(title=s.string())).names[-2:]
        ['_jz_delete_kind', 'title']
    """
    return pa.schema([*META, *user_arrow_schema(schema)])


_WIRE: dict[tuple[str, str], pa.Schema] = {}


def _app_wire_schema(app: App, table: str) -> pa.Schema:
    """``wire_schema`` of an app's table, computed once per schema version."""
    key = (app.schema_hash, table)
    if key not in _WIRE:
        _WIRE[key] = wire_schema(app.table(table))
    return _WIRE[key]


def versions_to_arrow(schema: TableSchema, versions: Sequence[RowVersion],
                      tier: int | None = None) -> pa.Table:
    """Row versions of one table as a wire Arrow table (``tier`` overrides each version's).

    Example:
        >>> from jazz_nb import s
        >>> v = RowVersion("t", "01900000-0000-7000-8000-000000000001", "ab" * 16, (), 5, "me",
        ...                5, "me", {"n": 1})
        >>> versions_to_arrow(s.table(n=s.int()), [v], tier=2).column("_jz_tier").to_pylist()
        [2]
    """
    user = user_arrow_schema(schema)
    columns: list[Any] = [
        [v.row_id for v in versions], [v.batch_id for v in versions],
        [list(v.parents) for v in versions], [v.updated_at for v in versions],
        [v.created_by for v in versions], [v.created_at for v in versions],
        [v.updated_by for v in versions], [v.state for v in versions],
        [v.tier if tier is None else tier for v in versions],
        [v.delete_kind for v in versions],
    ]
    arrays = [pa.array(values, field.type) for values, field in zip(columns, META, strict=True)]
    data = [v.data for v in versions]
    if len(user):
        arrays += pa.array(data, pa.struct(list(user))).flatten()
    return pa.Table.from_arrays(arrays, schema=pa.schema([*META, *user]))


def versions_segments(versions: Iterable[RowVersion], own_hash: str, apps: Mapping[str, App],
                      tier: int | None = None) -> list[Segment]:
    """Group versions by (table, schema version) into segments; a version's ``schema_hash``
    ``""`` means ``own_hash`` (the store's schema), ``apps`` maps hashes to schemas.

    Example:
        >>> # versions_segments(writer.staged.values(), app.schema_hash, {app.schema_hash: app})
    """
    groups: dict[tuple[str, str], list[RowVersion]] = {}
    for v in versions:
        groups.setdefault((v.table, v.schema_hash or own_hash), []).append(v)
    out = []
    for (table, schema_hash), members in groups.items():
        app = apps.get(schema_hash)
        if app is None:
            raise error("unknown_schema", f"versions of table {table!r} use schema "
                                          f"{schema_hash[:12]}, unknown to this side")
        out.append(Segment(table, schema_hash,
                           versions_to_arrow(app.table(table), members, tier)))
    return out


def segment_versions(segment: Segment, schema: TableSchema, own_hash: str) -> list[RowVersion]:
    """Decode a segment of ``schema``'s rows into ``RowVersion``s for a store whose own schema
    hash is ``own_hash``.

    Example:
        >>> # segment_versions(segment, app.table("todos"), store.app.schema_hash)
    """
    rows = segment.rows
    names = list(schema.columns)
    cols = {name: rows.column(name).to_pylist() for name in rows.column_names}
    user = [cols[name] for name in names]
    mark = "" if segment.schema_hash == own_hash else segment.schema_hash
    out = []
    for i in range(rows.num_rows):
        kind = cols["_jz_delete_kind"][i]
        data = {} if kind == "hard" else {name: col[i] for name, col in zip(names, user,
                                                                             strict=True)}
        out.append(RowVersion(segment.table, cols["_jz_row_id"][i], cols["_jz_batch_id"][i],
                              tuple(cols["_jz_parents"][i]), cols["_jz_updated_at"][i],
                              cols["_jz_created_by"][i], cols["_jz_created_at"][i],
                              cols["_jz_updated_by"][i], data, cols["_jz_state"][i],
                              cols["_jz_tier"][i], kind, mark))
    return out


def _ipc(table: pa.Table) -> pa.Buffer:
    """One Arrow IPC stream; big tables travel with zstd-compressed buffers (about 5x fewer
    bytes for row histories, and cheaper to send than to copy uncompressed)."""
    options = _COMPRESSED if table.nbytes >= COMPRESS_MIN_BYTES else None
    if table.num_columns and table.column(0).num_chunks > MAX_CHUNKS:
        table = table.combine_chunks()  # one record batch per chunk: receivers bound the count
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema, options=options) as writer:
        writer.write_table(table)
    return sink.getvalue()


def encode_frame(header: Mapping[str, Any], segments: Sequence[Segment]) -> bytes:
    """One binary frame: ``header`` (its ``segments`` list is filled in) and the segments.

    Example:
        >>> decode_frame(encode_frame({"type": "rows"}, []), {})[0]
        {'type': 'rows', 'segments': []}
    """
    bodies = [_ipc(s.rows) for s in segments]
    head = dict(header)
    head["segments"] = [{"table": s.table, "schema_hash": s.schema_hash, "bytes": b.size,
                         **({"fresh": True} if s.fresh else {})}
                        for s, b in zip(segments, bodies, strict=True)]
    text = json.dumps(head, separators=(",", ":")).encode()
    return b"".join([_HEAD.pack(MAGIC, len(text)), text, *bodies])


def split_segments(segments: Sequence[Segment], max_bytes: int) -> list[list[Segment]]:
    """Split segments into frames of about ``max_bytes`` (halved for headroom), by rows.

    Example:
        >>> seg = Segment("t", "h", pa.table({"x": list(range(1000))}))
        >>> [sum(s.rows.num_rows for s in f) for f in split_segments([seg], 4000)]
        [250, 250, 250, 250]
    """
    budget = max(max_bytes // 2, 1)
    frames: list[list[Segment]] = []
    current: list[Segment] = []
    used = 0.0
    for seg in segments:
        n = seg.rows.num_rows
        per_row = seg.rows.nbytes / n if n else 0.0
        start = 0
        while True:
            left = n - start
            take = left if per_row == 0 else min(left, int((budget - used) // per_row))
            if take <= 0 < left:
                if current:  # this frame is full: start the next one
                    frames.append(current)
                    current, used = [], 0.0
                    continue
                take = 1  # one row larger than the budget travels alone
            current.append(replace(seg, rows=seg.rows.slice(start, take)))
            used += take * per_row
            start += take
            if start >= n:
                break
    if current:
        frames.append(current)
    return frames


def read_header(data: bytes) -> tuple[dict[str, Any], int]:
    """The JSON header of a binary frame and the offset where its segments start.

    Example:
        >>> read_header(b"JZB1\\x00\\x00\\x00\\x09{")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        jazz_nb.errors.ProtocolError: truncated frame: header needs 9 bytes, 1 present [...]
    """
    if len(data) < _HEAD.size:
        raise error("malformed_frame", f"frame of {len(data)} bytes is shorter than its prefix")
    magic, size = _HEAD.unpack_from(data)
    if magic != MAGIC:
        raise error("malformed_frame", f"binary frame does not start with {MAGIC!r}")
    end = _HEAD.size + size
    if end > len(data):
        raise error("malformed_frame", f"truncated frame: header needs {size} bytes, "
                                       f"{len(data) - _HEAD.size} present")
    try:
        header = json.loads(bytes(data[_HEAD.size:end]))
    except (ValueError, UnicodeDecodeError, RecursionError) as err:
        raise error("malformed_frame", f"frame header is not JSON: {err}") from None
    if not isinstance(header, dict) or not isinstance(header.get("type"), str) or \
            not isinstance(header.get("segments"), list):
        raise error("malformed_frame", "frame header needs a 'type' and a 'segments' list")
    return header, end


def decode_frame(data: bytes, apps: Mapping[str, App], *, check_values: bool = True,
                 max_decompressed_bytes: int = MAX_DECOMPRESSED_BYTES,
                 ) -> tuple[dict[str, Any], list[Segment]]:
    """Parse and validate a binary frame; ``apps`` maps known schema hashes to their apps.

    Whatever the bytes, this raises only ``ProtocolError``: framing, Arrow structure
    (``jazz_nb.sync.ipc``) and the segments' total decompressed size (``limit_exceeded``,
    ``decompressed_bytes``) are always checked. ``check_values`` also checks the values: bad
    history columns are ``malformed_frame``; then, once the whole frame is well formed, bad user
    values raise ``InvalidValues`` (``invalid_batch_submission``, its ``header`` set) -- a
    rejected batch, not a broken connection. ``check_values=False`` trusts the sender's values.

    Example:
        >>> decode_frame(b"JZB1\\x00\\x00\\x00\\x02{}", {})  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        jazz_nb.errors.ProtocolError: frame header needs a 'type' and a 'segments' list [...]
    """
    header, offset = read_header(data)
    view = memoryview(data)
    budget = Budget(max_decompressed_bytes)
    segments = []
    for spec in header["segments"]:
        if not (isinstance(spec, dict) and isinstance(spec.get("table"), str)
                and isinstance(spec.get("schema_hash"), str)
                and type(spec.get("bytes")) is int and spec["bytes"] >= 0):
            raise error("malformed_frame", f"bad segment description {reprlib.repr(spec)}")
        stop = offset + spec["bytes"]
        if stop > len(view):
            raise error("malformed_frame", f"truncated frame: segment {spec['table']!r} needs "
                                           f"{spec['bytes']} bytes, {len(view) - offset} present")
        segment = _segment(spec["table"], spec["schema_hash"], view[offset:stop], apps, budget)
        segments.append(replace(segment, fresh=spec.get("fresh") is True))
        offset = stop
    if offset != len(view):
        raise error("malformed_frame", f"{len(view) - offset} trailing bytes after the segments")
    if check_values:
        for segment in segments:
            check_engine(segment.table, segment.rows)
        try:
            for segment in segments:
                schema = apps[segment.schema_hash].table(segment.table)
                check_user(segment.table, schema, segment.rows)
        except InvalidValues as err:
            err.header = header
            raise
    return header, segments


def _segment(table: str, schema_hash: str, body: memoryview, apps: Mapping[str, App],
             budget: Budget) -> Segment:
    app = apps.get(schema_hash)
    if app is None:
        raise error("unknown_schema", f"rows of table {table!r} use schema {schema_hash[:12]!r}, "
                                      "which is not published here")
    if table not in app.tables:
        raise error("unknown_table", f"unknown table {table!r} "
                                     f"(tables: {', '.join(app.tables)})")
    rows = read_stream(body, _app_wire_schema(app, table), table, budget)
    return Segment(table, schema_hash, rows)
