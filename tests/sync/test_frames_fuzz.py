"""Property fuzzing: whatever the bytes, the decoders raise ``ProtocolError`` and nothing else.

Frame mutations run in a spawned child (``in_child``), so a crash fails the test instead of
killing pytest; the CI-size campaign of ``bench.fuzz`` runs under ``slow``.
"""

from __future__ import annotations

import contextlib
import json
import struct
import subprocess
import sys
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jazz_nb import s
from jazz_nb.errors import ProtocolError
from jazz_nb.store.versions import RowVersion
from jazz_nb.sync import protocol as p
from jazz_nb.sync.frames import Segment, decode_frame, encode_frame, read_header, versions_to_arrow
from tests.sync.test_frames_ipc import in_child

APP = s.define_app({"todos": s.table(
    title=s.string(), n=s.int().optional(), at=s.timestamp(), owner=s.uuid(),
    meta=s.json(), kind=s.enum("a", "b"), tags=s.array(s.string()), blob=s.bytes().optional())})
APPS = {APP.schema_hash: APP}
ROOT = Path(__file__).resolve().parents[2]


def rows(n: int) -> pa.Table:
    versions = [RowVersion("todos", f"01900000-0000-7000-8000-{i:012x}", "ab" * 16,
                           ("cd" * 16,) * (i % 2), 5 + i, "me", 5, "me",
                           {"title": "t" * i, "n": i or None, "at": i, "owner":
                            f"01900000-0000-7000-8000-{i + 100:012x}", "meta": "[1]",
                            "kind": "ab"[i % 2], "tags": ["x"] * i, "blob": b"b" * i})
                for i in range(n)]
    return versions_to_arrow(APP.table("todos"), versions)


def ipc(table: pa.Table, compression: str | None) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema,
                           options=pa.ipc.IpcWriteOptions(compression=compression)) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def framed(body: bytes) -> bytes:
    text = json.dumps({"type": "batch", "segments": [
        {"table": "todos", "schema_hash": APP.schema_hash, "bytes": len(body)}]}).encode()
    return b"JZB1" + struct.pack(">I", len(text)) + text + body


SEEDS = [encode_frame({"type": "rows"}, [Segment("todos", APP.schema_hash, rows(3))]),
         framed(ipc(rows(5), "zstd")), framed(ipc(rows(5), "lz4")),
         framed(ipc(rows(1), None))]
INTS = st.sampled_from([0, 1, 7, 8, 255, 2**31 - 1, 2**31, 2**32 - 1, 2**62, 2**63 - 1, 2**64 - 1])
EDITS = st.lists(st.tuples(st.sampled_from(["flip", "byte", "int32", "int64", "cut", "drop"]),
                           st.floats(0, 1, exclude_max=True), INTS), min_size=1, max_size=6)


def mutated(seed: bytes, edits: list[tuple[str, float, int]], restate: bool) -> bytes:
    """``seed`` after the edits (positions as fractions of its length); ``restate`` fixes the
    header's segment length so that the edited bytes reach Arrow."""
    data = bytearray(seed)
    for op, where, value in edits:
        if not data:
            break
        at = int(where * len(data))
        if op == "flip":
            data[at] ^= 1 << (value % 8)
        elif op == "byte":
            data[at] = value % 256
        elif op in ("int32", "int64"):
            size = 4 if op == "int32" else 8
            at -= at % size
            data[at:at + size] = (value % (1 << (8 * size))).to_bytes(size, "little")
        elif op == "cut":
            del data[at:]
        else:
            del data[at:at + 1 + value % 16]
    if restate and len(data) >= 8:
        size = struct.unpack(">I", data[4:8])[0]
        try:
            header = json.loads(bytes(data[8:8 + size]))
            header["segments"][0]["bytes"] = len(data) - 8 - size
            text = json.dumps(header).encode()
            data = bytearray(b"JZB1" + struct.pack(">I", len(text)) + text + data[8 + size:])
        except (ValueError, KeyError, IndexError, TypeError):
            pass
    return bytes(data)


def only_protocol_errors(fn: Any, *args: Any) -> None:
    with contextlib.suppress(ProtocolError):  # anything else fails the test
        fn(*args)


@settings(max_examples=600, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.sampled_from(SEEDS), EDITS, st.booleans(), st.booleans())
def frame_mutations(seed: bytes, edits: list[tuple[str, float, int]], restate: bool,
                    check_values: bool) -> None:
    data = mutated(seed, edits, restate)
    try:
        for segment in decode_frame(data, APPS, check_values=check_values)[1]:
            segment.rows.to_pylist()  # every value of an accepted frame is readable
    except ProtocolError:
        pass


def run_frame_mutations() -> None:
    """``frame_mutations`` behind a module-level name, which a spawned child can unpickle."""
    frame_mutations()


def test_mutated_frames_raise_only_protocol_errors_and_never_crash() -> None:
    outcome, _, message = in_child(run_frame_mutations)
    assert outcome == "returned", (outcome, message)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=64) | st.builds(
    lambda size, text: b"JZB1" + struct.pack(">I", size) + text,
    st.integers(0, 2**32 - 1), st.binary(max_size=64)))
def test_read_header_raises_only_protocol_errors(data: bytes) -> None:
    only_protocol_errors(read_header, data)
    only_protocol_errors(decode_frame, data, APPS)


JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
                        st.sampled_from(["type", "id", "query", "tier", "auth", "code",
                                         "message", "batch_id", "kind", "protocol"]) | st.text(),
                        inner, max_size=5), max_leaves=20)
TYPES = st.sampled_from(["hello", "subscribe", "unsubscribe", "heartbeat", "welcome", "settled",
                         "fate", "error", "batch"])


@settings(max_examples=300, deadline=None)
@given(st.one_of(
    JSON.map(lambda v: json.dumps(v)),
    st.tuples(TYPES, st.dictionaries(st.text(max_size=10), JSON, max_size=5)).map(
        lambda tv: json.dumps({**tv[1], "type": tv[0]})),
    st.sampled_from([10, 990, 1_100, 100_000]).map(lambda n: "[" * n),
    st.binary(max_size=80), st.text(max_size=80)),
    st.sampled_from([p.CLIENT, p.SERVER]))
def test_protocol_decode_raises_only_protocol_errors(text: str | bytes, side: p.Side) -> None:
    only_protocol_errors(p.decode, text, side)


def test_a_deeply_nested_message_is_a_protocol_error() -> None:
    """``json.loads`` raises RecursionError (not ValueError) past ~1,000 levels."""
    for text in ("[" * 100_000, '{"a":' * 100_000):
        with pytest.raises(ProtocolError) as err:
            p.decode(text, p.CLIENT)
        assert err.value.code == "malformed_message"
        with pytest.raises(ProtocolError) as err:
            read_header(b"JZB1" + struct.pack(">I", len(text)) + text.encode())
        assert err.value.code == "malformed_frame"


@pytest.mark.slow
def test_bench_fuzz_quick_finds_no_crash_and_no_hang() -> None:
    """``python -m bench.fuzz --quick``: decoders in worker processes, a real server with a
    bystander client; exits 0 only with 0 crashes, 0 hangs, 0 errors, every write delivered."""
    run = subprocess.run([sys.executable, "-m", "bench.fuzz", "--quick"], cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    line = next(x for x in run.stdout.splitlines() if x.startswith("totals: "))
    totals = json.loads(line.removeprefix("totals: "))
    assert (totals["crashes"], totals["hangs"], totals["errors"]) == (0, 0, 0), totals
    assert totals["inputs"] >= 15_000 and totals["server_alive"], totals
    assert totals["bystander_ok"] == totals["bystander_writes"] > 0, totals
