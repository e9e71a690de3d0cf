"""Untrusted Arrow IPC segments: the schema is checked first, the batch metadata before Arrow
reads it, the arrays in full before any value is touched -- one regression test per crash class
the mutation fuzzer (``bench/fuzz.py``) found in the unhardened decoder."""

from __future__ import annotations

import functools
import json
import multiprocessing as mp
import struct
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import pyarrow as pa
import pytest

from jazz_nb import s
from jazz_nb.errors import ProtocolError
from jazz_nb.store.versions import RowVersion
from jazz_nb.sync.frames import decode_frame, versions_to_arrow, wire_schema
from jazz_nb.sync.ipc import _Table, layout  # the flatbuffer reader locates the fields to forge

APP = s.define_app({"todos": s.table(title=s.string(), tags=s.array(s.string()), n=s.bigint())})
APPS = {APP.schema_hash: APP}
SCHEMA = wire_schema(APP.table("todos"))


def version() -> RowVersion:
    return RowVersion("todos", "01900000-0000-7000-8000-000000000001", "ab" * 16,
                      ("cd" * 16, "ef" * 16), 5, "me", 5, "me",
                      {"title": "x" * 37, "tags": ["a"] * 13, "n": 7})


def ipc(table: pa.Table, schema: pa.Schema | None = None, compression: str | None = None,
        ) -> bytes:
    sink = pa.BufferOutputStream()
    options = pa.ipc.IpcWriteOptions(compression=compression)
    with pa.ipc.new_stream(sink, schema or table.schema, options=options) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def frame(body: bytes, table: str = "todos") -> bytes:
    header = json.dumps({"type": "batch", "segments": [
        {"table": table, "schema_hash": APP.schema_hash, "bytes": len(body)}]}).encode()
    return b"JZB1" + struct.pack(">I", len(header)) + header + body


def refused(data: bytes, code: str = "malformed_frame") -> str:
    with pytest.raises(ProtocolError) as err:
        decode_frame(data, APPS)
    assert err.value.code == code, err.value
    return str(err.value)


def _child(pipe: Any, fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
    try:
        fn(*args)
        pipe.send(("returned", None, ""))
    except ProtocolError as err:
        pipe.send(("ProtocolError", err.code, str(err)))
    except Exception as err:
        pipe.send((type(err).__name__, None, str(err)))


def in_child(fn: Callable[..., Any], *args: Any) -> tuple[str, str | None, str]:
    """Run ``fn(*args)`` in a child process: ``(outcome, code, message)``, where the outcome is
    ``returned``, the exception's type name, or ``signal N`` if the child died -- so a
    regression that crashes fails the test instead of killing pytest. The child is spawned, not
    forked: a fork of pytest carries the threads earlier tests left (DuckDB's, event loops') and
    can die of them rather than of ``fn``."""
    ctx = mp.get_context("spawn")
    recv, send = ctx.Pipe(duplex=False)
    child = ctx.Process(target=_child, args=(send, fn, args))
    child.start()
    send.close()
    try:
        result = recv.recv() if recv.poll(60) else ("timeout", None, "")
    except EOFError:
        result = ("died", None, "")
    child.join(10)
    if child.exitcode is not None and child.exitcode < 0:
        return f"signal {-child.exitcode}", None, ""
    return result


class Forged:
    """A valid one-row segment whose record batch metadata and body can be edited in place."""

    def __init__(self) -> None:
        self.data = bytearray(ipc(versions_to_arrow(APP.table("todos"), [version()])))
        schema_size = struct.unpack_from("<i", self.data, 4)[0]
        meta = 8 + schema_size + 8  # past the schema message and the batch's 8-byte prefix
        size = struct.unpack_from("<i", self.data, meta - 4)[0]
        batch = _Table.root(bytes(self.data[meta:meta + size])).table(2)
        assert batch is not None
        self.length_at = meta + batch.pos + batch._field(0)
        self.nodes_at = meta + batch.vector(1, 16)[0]  # type: ignore[index]
        self.buffers_at = meta + batch.vector(2, 16)[0]  # type: ignore[index]
        self.body_at = meta + size
        self.paths = [n.path for n in layout(SCHEMA)]
        self.first_buffer = {}
        at = 0
        for node in layout(SCHEMA):
            self.first_buffer[node.path] = at
            at += len(node.widths)

    def node(self, path: str, length: int | None = None, null_count: int | None = None) -> None:
        at = self.nodes_at + 16 * self.paths.index(path)
        old = struct.unpack_from("<qq", self.data, at)
        struct.pack_into("<qq", self.data, at, old[0] if length is None else length,
                         old[1] if null_count is None else null_count)

    def offset(self, path: str, slot: int, value: int) -> None:
        """Set ``offsets[slot]`` of a string or list column (its second buffer)."""
        at = self.buffers_at + 16 * (self.first_buffer[path] + 1)
        start = struct.unpack_from("<q", self.data, at)[0]
        struct.pack_into("<i", self.data, self.body_at + start + 4 * slot, value)

    def rows(self, count: int) -> None:
        struct.pack_into("<q", self.data, self.length_at, count)
        for path in self.paths:
            if "[]" not in path:
                self.node(path, length=count)


def string_offsets_past_data(f: Forged) -> None:
    f.offset("title", 1, 0x7FFF0000)  # to_pylist reads 2 GiB past the data: SIGSEGV


def list_first_offset_past_child(f: Forged) -> None:
    f.offset("_jz_parents", 0, 3)  # list_flatten slices past the child: SIGABRT


def list_last_offset_past_child(f: Forged) -> None:
    f.offset("tags", 1, 1_000_000)  # to_pylist walks past the child: SIGSEGV (or reads junk)


def null_count_above_length(f: Forged) -> None:
    f.node("_jz_delete_kind", null_count=3)  # drop_null builds no chunk: SIGABRT


def rows_beyond_buffers(f: Forged) -> None:
    f.rows(1 << 20)  # a million rows over one row's buffers: reads past them, SIGSEGV


def string_offsets_backwards(f: Forged) -> None:
    f.offset("_jz_row_id", 1, -64)  # a negative length: SystemError (SIGABRT on pyarrow 16)


# name: (forge, what the error says); comments: what the unhardened reader does (pyarrow 26)
CRASHES: dict[str, tuple[Callable[[Forged], None], str]] = {
    "string_offsets_past_data": (string_offsets_past_data, "invalid Arrow data"),
    "list_first_offset_past_child": (list_first_offset_past_child, "invalid Arrow data"),
    "list_last_offset_past_child": (list_last_offset_past_child, "invalid Arrow data"),
    "null_count_above_length": (null_count_above_length, "null count 3"),
    "rows_beyond_buffers": (rows_beyond_buffers, "too small for 1048576 values"),
    "string_offsets_backwards": (string_offsets_backwards, "invalid Arrow data"),
}


def forged(name: str) -> bytes:
    f = Forged()
    CRASHES[name][0](f)
    return bytes(f.data)


def test_the_forged_segment_is_valid_before_the_edit() -> None:
    segments = decode_frame(frame(bytes(Forged().data)), APPS)[1]
    assert segments[0].rows.column("title").to_pylist() == ["x" * 37]


@pytest.mark.parametrize("name", list(CRASHES))
def test_each_crash_class_is_refused_before_a_value_is_read(name: str) -> None:
    for check_values in (True, False):  # the server's and the client's decoding
        outcome, code, message = in_child(
            functools.partial(decode_frame, check_values=check_values), frame(forged(name)), APPS)
        assert (outcome, code) == ("ProtocolError", "malformed_frame"), (outcome, message)
        assert "segment of table 'todos'" in message and CRASHES[name][1] in message, message


UNHARDENED = """
import sys, pyarrow as pa, pyarrow.compute as pc
rows = pa.ipc.open_stream(pa.py_buffer(sys.stdin.buffer.read())).read_all()
for name in ("_jz_row_id", "_jz_state", "_jz_parents", "title"):
    rows.column(name).null_count
pc.match_substring_regex(rows.column("_jz_row_id"), "^[0-9a-f-]{36}$")
pc.list_flatten(rows.column("_jz_parents"))
pc.is_in(rows.column("_jz_state"), pa.array(["VisibleDirect"]))
rows.column("_jz_delete_kind").drop_null()
values = rows.to_pylist()
tags = sum(len(r["tags"] or ()) for r in values)
if tags > len(rows.column("tags").chunk(0).values):
    print("read past the buffers")
"""


@pytest.mark.slow
@pytest.mark.parametrize("name", list(CRASHES))
def test_each_crash_class_harms_the_unhardened_reader(name: str) -> None:
    """The forged inputs are real: pyarrow's reader plus the old checks and ``to_pylist``, in
    a child process, die by a signal (SIGSEGV/SIGABRT), raise a non-protocol error or read
    past the buffers (which of these depends on the pyarrow release)."""
    if name == "list_last_offset_past_child" and int(pa.__version__.split(".")[0]) < 17:
        pytest.skip("pyarrow 16's to_pylist stops at the child's end on this input")
    run = subprocess.run([sys.executable, "-c", UNHARDENED], input=forged(name),
                         capture_output=True, timeout=60)
    harmed = run.returncode < 0 or b"SystemError" in run.stderr or (
        b"read past the buffers" in run.stdout)
    assert harmed, (run.returncode, run.stdout[-300:], run.stderr[-300:])


# -- the schema comes first ----------------------------------------------------------------------
def rows() -> pa.Table:
    return versions_to_arrow(APP.table("todos"), [version()])


def test_dictionary_columns_are_refused_before_any_batch() -> None:
    table = rows()
    i = table.schema.get_field_index("title")
    encoded = table.set_column(i, pa.field("title", pa.dictionary(pa.int32(), pa.string())),
                               pa.compute.dictionary_encode(table.column("title")))
    assert "not the table's wire schema" in refused(frame(ipc(encoded)))


def test_extension_types_and_metadata_are_refused() -> None:
    table = rows()
    tagged = table.schema.set(table.schema.get_field_index("title"), pa.field(
        "title", pa.string(), metadata={"ARROW:extension:name": "evil.type"}))
    assert "with metadata" in refused(frame(ipc(table.cast(tagged))))
    assert "with metadata" in refused(frame(ipc(table.replace_schema_metadata({"k": "v"}))))


def test_nullability_and_types_must_match_exactly() -> None:
    table = rows()
    loose = pa.schema([f.with_nullable(True) for f in table.schema])
    assert "not the table's wire schema" in refused(frame(ipc(table.cast(loose))))
    widened = table.schema.set(table.schema.get_field_index("n"), pa.field("n", pa.float64()))
    assert "n: double" in refused(frame(ipc(table.cast(widened))))


def schema_message(endianness: int) -> bytes:
    """A minimal flatbuffer ``Message{version: V5, header: Schema{endianness}}`` (pyarrow
    cannot write big-endian streams)."""
    message_vtable = struct.pack("<5H", 10, 12, 4, 6, 8) + b"\x00" * 2  # at 4
    message = struct.pack("<ihBxI", 12, 4, 1, 12)  # at 16: version V5, header_type Schema
    schema_vtable = struct.pack("<3H", 6, 8, 4) + b"\x00" * 2  # at 28
    schema = struct.pack("<ihxx", 8, endianness)  # at 36
    return struct.pack("<I", 16) + message_vtable + message + schema_vtable + schema


def test_a_big_endian_schema_is_refused() -> None:
    from jazz_nb.sync.ipc import _Bad, _check_schema

    _check_schema(schema_message(0))
    with pytest.raises(_Bad, match="little-endian"):
        _check_schema(schema_message(1))


def test_bytes_after_the_end_of_stream_are_refused() -> None:
    assert "after the end of the stream" in refused(frame(ipc(rows()) + b"\x00" * 8))


def test_lz4_and_zstd_segments_are_read() -> None:
    for codec in ("lz4", "zstd"):
        segments = decode_frame(frame(ipc(rows(), compression=codec)), APPS)[1]
        assert segments[0].rows.equals(rows())


def test_segments_anywhere_in_the_frame_are_realigned() -> None:
    for pad in range(8):  # header lengths 8 apart
        body = ipc(rows())
        header = json.dumps({"type": "batch", "p": "y" * pad, "segments": [
            {"table": "todos", "schema_hash": APP.schema_hash, "bytes": len(body)}]}).encode()
        data = b"JZB1" + struct.pack(">I", len(header)) + header + body
        column = decode_frame(data, APPS)[1][0].rows.column("n").chunk(0)
        assert column.buffers()[1].address % 8 == 0
