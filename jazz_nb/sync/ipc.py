"""Bounded reading of an untrusted Arrow IPC stream: one segment of a binary frame.

pyarrow's stream reader trusts the metadata it reads: a corrupted offset or length reaches
compute kernels and ``to_pylist`` as an out-of-bounds read (SIGSEGV/SIGABRT), and a compressed
buffer allocates whatever uncompressed length its prefix claims. ``read_stream`` therefore reads
message by message:

1. the schema message first: little-endian, no custom metadata, and exactly the expected schema
   (names, types, nullability; no dictionaries, no extension types) -- before any batch is read;
2. every record batch's flatbuffer metadata is parsed here (pure Python, every offset checked):
   the field nodes and buffers must match the schema's layout, lie inside the body, be large
   enough for their row counts, and the decompressed total (and the frame's count of Arrow
   messages) must fit the ``Budget``;
3. only then does Arrow materialise the batch (from 8-byte aligned memory: a segment starting
   anywhere in its frame is copied first), and ``validate(full=True)`` checks every offset,
   UTF-8 string and null count before any value is touched.

Any violation raises ``ProtocolError`` ``malformed_frame`` naming the table and the problem; a
budget overrun raises ``limit_exceeded`` with ``limit="decompressed_bytes"``.

Example:
    >>> t = pa.table({"x": pa.array([1, 2], pa.int64())})
    >>> sink = pa.BufferOutputStream()
    >>> with pa.ipc.new_stream(sink, t.schema) as writer:
    ...     writer.write_table(t)
    >>> read_stream(sink.getvalue(), t.schema, "t", Budget(1024)).column("x").to_pylist()
    [1, 2]
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from functools import lru_cache

import pyarrow as pa

from jazz_nb.errors import ProtocolError
from jazz_nb.sync.protocol import error

_SCHEMA, _RECORD_BATCH = 1, 3  # MessageHeader union tags (format/Message.fbs)
_V5 = 4  # MetadataVersion.V5
_CODECS = (0, 1)  # CompressionType LZ4_FRAME, ZSTD; BodyCompressionMethod BUFFER is 0
_I64 = struct.Struct("<q")
MAX_MESSAGES = 1024  # schemas + record batches per frame; senders write about one per segment


class _Bad(Exception):
    """Malformed flatbuffer metadata (turned into ``malformed_frame`` with the table)."""


@dataclass
class Budget:
    """What a frame's segments may still take: decompressed body bytes (the limit
    ``decompressed_bytes``) and Arrow messages (each costs a fixed amount of work, so a frame of
    tiny record batches or segments would cost far more than its bytes).

    Example:
        >>> b = Budget(100)
        >>> b.spend(60, "todos")
        >>> b.spend(60, "todos")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        jazz_nb.errors.ProtocolError: segment of table 'todos' decompresses past ...
    """

    max: int
    used: int = 0
    max_messages: int = MAX_MESSAGES
    messages: int = 0

    def spend(self, size: int, table: str) -> None:
        """Take ``size`` bytes or raise ``limit_exceeded`` (``decompressed_bytes``)."""
        self.used += size
        if self.used > self.max:
            raise error("limit_exceeded", f"segment of table {table!r} decompresses past the "
                                          f"frame's limit decompressed_bytes = {self.max}",
                        limit="decompressed_bytes", max=self.max)

    def message(self, table: str) -> None:
        """Count one Arrow message (a schema or a record batch) or raise ``malformed_frame``."""
        self.messages += 1
        if self.messages > self.max_messages:
            raise error("malformed_frame", f"segment of table {table!r}: more than "
                                           f"{self.max_messages} Arrow messages in one frame")


class _Table:
    """A flatbuffer table inside ``buf`` at ``pos`` whose every read is bounds-checked."""

    def __init__(self, buf: bytes, pos: int) -> None:
        self.buf = buf
        self.pos = pos
        vtable = pos - _read(buf, "<i", pos)
        self.vt_size = _read(buf, "<H", vtable)
        if self.vt_size < 4 or self.vt_size % 2:
            raise _Bad(f"bad vtable size {self.vt_size}")
        _check(buf, vtable, self.vt_size)
        self.vtable = vtable

    @classmethod
    def root(cls, buf: bytes) -> _Table:
        return cls(buf, _read(buf, "<I", 0))

    def _field(self, index: int) -> int:
        slot = 4 + 2 * index
        if slot + 2 > self.vt_size:
            return 0
        return _read(self.buf, "<H", self.vtable + slot)

    def scalar(self, index: int, fmt: str, default: int) -> int:
        offset = self._field(index)
        return default if offset == 0 else _read(self.buf, fmt, self.pos + offset)

    def _target(self, index: int) -> int | None:
        offset = self._field(index)
        if offset == 0:
            return None
        at = self.pos + offset
        return at + _read(self.buf, "<I", at)

    def table(self, index: int) -> _Table | None:
        at = self._target(index)
        return None if at is None else _Table(self.buf, at)

    def vector(self, index: int, item: int) -> tuple[int, int] | None:
        """``(start, count)`` of a vector of ``item``-byte elements, or None if absent."""
        at = self._target(index)
        if at is None:
            return None
        count = _read(self.buf, "<I", at)
        _check(self.buf, at + 4, count * item)
        return at + 4, count


def _check(buf: bytes, at: int, size: int) -> None:
    if at < 0 or size < 0 or at + size > len(buf):
        raise _Bad(f"offset {at}+{size} outside the {len(buf)}-byte metadata")


def _read(buf: bytes, fmt: str, at: int) -> int:
    _check(buf, at, struct.calcsize(fmt))
    return struct.unpack_from(fmt, buf, at)[0]


@dataclass(frozen=True)
class _Node:
    """One field node of the flattened schema: its buffers' minimum sizes per row."""

    path: str
    widths: tuple[str, ...]  # per buffer: "validity", "offsets", "data", "bits" or "i<bytes>"


@lru_cache(maxsize=256)
def layout(schema: pa.Schema) -> tuple[_Node, ...]:
    """The pre-ordered field nodes of a schema's record batches (the IPC buffer layout).

    Example:
        >>> [n.widths for n in layout(pa.schema([("a", pa.list_(pa.string()))]))]
        [('validity', 'offsets'), ('validity', 'offsets', 'data')]
    """
    nodes: list[_Node] = []

    def visit(path: str, kind: pa.DataType) -> None:
        if pa.types.is_list(kind):
            nodes.append(_Node(path, ("validity", "offsets")))
            visit(path + "[]", kind.value_type)
        elif pa.types.is_string(kind) or pa.types.is_binary(kind):
            nodes.append(_Node(path, ("validity", "offsets", "data")))
        elif pa.types.is_boolean(kind):
            nodes.append(_Node(path, ("validity", "bits")))
        elif pa.types.is_integer(kind) or pa.types.is_floating(kind):
            nodes.append(_Node(path, ("validity", f"i{kind.bit_width // 8}")))
        else:
            raise TypeError(f"no IPC layout for wire type {kind}")

    for field in schema:
        visit(field.name, field.type)
    return tuple(nodes)


def _min_size(width: str, length: int, null_count: int) -> int:
    if width == "validity":
        return (length + 7) // 8 if null_count else 0
    if width == "bits":
        return (length + 7) // 8
    if width == "offsets":
        return 4 * (length + 1) if length else 0
    if width == "data":
        return 0  # bounded by the offsets, which validate(full=True) checks
    return int(width[1:]) * length


def _check_batch(meta: bytes, body: memoryview, nodes: tuple[_Node, ...], table: str,
                 budget: Budget) -> None:
    """Check a record batch message's metadata against the layout and spend its body size."""
    message = _Table.root(meta)
    if message.scalar(0, "<h", 0) != _V5:
        raise _Bad("record batch metadata is not version V5")
    if message.scalar(1, "<B", 0) != _RECORD_BATCH:
        raise _Bad("a message after the schema is not a record batch (dictionaries are refused)")
    if message.scalar(3, "<q", 0) != len(body):
        raise _Bad("bodyLength differs from the body")
    _no_custom_metadata(message)
    batch = message.table(2)
    if batch is None:
        raise _Bad("record batch message has no header")
    length = batch.scalar(0, "<q", 0)
    node_vec, buffer_vec = batch.vector(1, 16), batch.vector(2, 16)
    if node_vec is None or node_vec[1] != len(nodes):
        raise _Bad(f"record batch has {node_vec and node_vec[1]} field nodes, the schema "
                   f"{len(nodes)}")
    wanted = sum(len(n.widths) for n in nodes)
    if buffer_vec is None or buffer_vec[1] != wanted:
        raise _Bad(f"record batch has {buffer_vec and buffer_vec[1]} buffers, the schema "
                   f"{wanted}")
    variadic = batch.vector(4, 8)
    if variadic is not None and variadic[1]:
        raise _Bad("record batch has variadic buffer counts")
    compression = batch.table(3)
    if compression is not None and (compression.scalar(0, "<b", 0) not in _CODECS
                                    or compression.scalar(1, "<b", 0) != 0):
        raise _Bad("unknown body compression")
    compressed = compression is not None
    total, b = 0, 0
    start = buffer_vec[0]
    for i, node in enumerate(nodes):
        n_len, n_null = struct.unpack_from("<qq", meta, node_vec[0] + 16 * i)
        if n_len < 0 or not 0 <= n_null <= n_len:
            raise _Bad(f"column {node.path}: node length {n_len}, null count {n_null}")
        if "[]" not in node.path and n_len != length:
            raise _Bad(f"column {node.path} has {n_len} rows, the batch {length}")
        for width in node.widths:
            offset, size = struct.unpack_from("<qq", meta, start + 16 * b)
            b += 1
            if offset < 0 or size < 0 or offset + size > len(body) or offset % 8:
                raise _Bad(f"column {node.path}: buffer {offset}+{size} outside the "
                           f"{len(body)}-byte body or not 8-byte aligned")
            if compressed and size:
                if size < 8:
                    raise _Bad(f"column {node.path}: compressed buffer of {size} bytes")
                prefix = _I64.unpack_from(body, offset)[0]
                if prefix < -1:
                    raise _Bad(f"column {node.path}: uncompressed length {prefix}")
                size = size - 8 if prefix == -1 else prefix
            if size < _min_size(width, n_len, n_null):
                raise _Bad(f"column {node.path}: {width} buffer of {size} bytes is too small "
                           f"for {n_len} values")
            total += size
    budget.spend(total, table)


def _no_custom_metadata(message: _Table) -> None:
    """Message-level metadata is refused: Arrow reads a legacy compression flag from it."""
    pairs = message.vector(4, 4)
    if pairs is not None and pairs[1]:
        raise _Bad("the message carries custom metadata")


def _check_schema(meta: bytes) -> None:
    message = _Table.root(meta)
    if message.scalar(0, "<h", 0) != _V5:
        raise _Bad("schema metadata is not version V5")
    if message.scalar(1, "<B", 0) != _SCHEMA:
        raise _Bad("the stream does not start with a schema")
    _no_custom_metadata(message)
    schema = message.table(2)
    if schema is None or schema.scalar(0, "<h", 0) != 0:
        raise _Bad("the schema is missing or not little-endian")


def read_stream(data: pa.Buffer | bytes | memoryview, expected: pa.Schema, table: str,
                budget: Budget) -> pa.Table:
    """The validated Arrow table of an IPC stream whose schema must be ``expected``.

    Example:
        >>> read_stream(b"\\x00" * 8, pa.schema([]), "todos", Budget(1))  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        jazz_nb.errors.ProtocolError: segment of table 'todos' is not Arrow IPC: ...
    """
    buffer = _aligned(data if isinstance(data, pa.Buffer) else pa.py_buffer(data))
    stream = pa.BufferReader(buffer)
    nodes = layout(expected)
    batches = []
    try:
        budget.message(table)
        message = pa.ipc.read_message(stream)
        _check_schema(message.metadata.to_pybytes())
        schema = pa.ipc.read_schema(message)
        if not schema.equals(expected, check_metadata=True):
            raise error("malformed_frame", f"segment of table {table!r} has the schema "
                        f"{_shown(schema)}, not the table's wire schema {_shown(expected)}")
        while True:
            try:
                message = pa.ipc.read_message(stream)
            except EOFError:
                break
            budget.message(table)
            body = message.body
            if body is not None and body.address % 8:
                raise _Bad("a record batch body is not 8-byte aligned")
            _check_batch(message.metadata.to_pybytes(),
                         memoryview(body) if body is not None else memoryview(b""),
                         nodes, table, budget)
            batch = pa.ipc.read_record_batch(message, expected)
            try:
                batch.validate(full=True)  # offsets, UTF-8, null counts: before any value is read
            except pa.ArrowInvalid as err:
                raise _Bad(f"invalid Arrow data: {err}") from None
            batches.append(batch)
        if stream.tell() != buffer.size:
            raise _Bad(f"{buffer.size - stream.tell()} bytes after the end of the stream")
    except ProtocolError:
        raise
    except _Bad as err:
        raise error("malformed_frame", f"segment of table {table!r}: {err}") from None
    except (pa.ArrowException, OSError, ValueError, EOFError) as err:
        raise error("malformed_frame", f"segment of table {table!r} is not Arrow IPC: "
                                       f"{err}") from None
    return pa.Table.from_batches(batches, schema=expected)


def _aligned(buffer: pa.Buffer) -> pa.Buffer:
    """``buffer``, copied to 64-byte aligned memory if it is not 8-byte aligned: a segment
    starts anywhere in its frame, and Arrow's kernels assume aligned values."""
    if buffer.address % 8 == 0:
        return buffer
    copy = pa.allocate_buffer(buffer.size)
    pa.FixedSizeBufferWriter(copy).write(buffer)
    return copy


def _shown(schema: pa.Schema) -> str:
    text = ", ".join(f"{f.name}: {f.type}{'' if f.nullable else ' not null'}" for f in schema)
    meta = " with metadata" if schema.metadata or any(f.metadata for f in schema) else ""
    return f"({text}){meta}"
