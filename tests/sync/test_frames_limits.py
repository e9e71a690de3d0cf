"""The decompressed size of a frame's Arrow bodies is bounded before Arrow allocates it."""

from __future__ import annotations

import json
import struct
import subprocess
import sys

import pyarrow as pa
import pytest

from jazz_nb import s
from jazz_nb.errors import ProtocolError
from jazz_nb.store.versions import RowVersion
from jazz_nb.sync import protocol as p
from jazz_nb.sync.frames import (
    MAX_DECOMPRESSED_BYTES,
    Segment,
    decode_frame,
    encode_frame,
    versions_to_arrow,
)

APP = s.define_app({"todos": s.table(title=s.string())})
APPS = {APP.schema_hash: APP}
MIB = 1024 * 1024


def segment(title_bytes: int, row: int = 1) -> Segment:
    v = RowVersion("todos", f"01900000-0000-7000-8000-{row:012x}", "ab" * 16, (), 5, "me", 5,
                   "me", {"title": "a" * title_bytes})
    return Segment("todos", APP.schema_hash, versions_to_arrow(APP.table("todos"), [v]))


def test_a_compressed_segment_over_the_limit_is_refused_with_the_limit() -> None:
    data = encode_frame({"type": "rows"}, [segment(2 * MIB)])  # zstd: a few kB
    assert len(data) < 16 * 1024
    with pytest.raises(ProtocolError) as err:
        decode_frame(data, APPS, max_decompressed_bytes=MIB)
    assert (err.value.code, err.value.limit, err.value.max) == ("limit_exceeded",
                                                                "decompressed_bytes", MIB)
    assert "decompressed_bytes" in str(err.value) and "'todos'" in str(err.value)
    wire = p.error_of(err.value)
    assert (wire["code"], wire["limit"], wire["max"]) == ("limit_exceeded",
                                                          "decompressed_bytes", MIB)
    assert decode_frame(data, APPS, max_decompressed_bytes=3 * MIB)[1][0].rows.num_rows == 1


def test_the_limit_counts_every_segment_of_the_frame_and_uncompressed_ones() -> None:
    two = encode_frame({"type": "rows"}, [segment(100_000, 1), segment(100_000, 2)])
    assert len(two) > 200_000  # below COMPRESS_MIN_BYTES: sent as is
    one = encode_frame({"type": "rows"}, [segment(100_000, 1)])
    assert decode_frame(one, APPS, max_decompressed_bytes=150_000)[1][0].rows.num_rows == 1
    with pytest.raises(ProtocolError) as err:
        decode_frame(two, APPS, max_decompressed_bytes=150_000)
    assert err.value.code == "limit_exceeded"


BOMB = """
import json, multiprocessing as mp, resource, sys
import pyarrow as pa
from jazz_nb.errors import ProtocolError
from jazz_nb.sync.frames import decode_frame, encode_frame, read_header
from tests.sync.test_frames_limits import APPS, segment

def build(pipe):  # in a forked child: its 128 MiB do not count in this process's peak
    pipe.send_bytes(encode_frame({"type": "rows"}, [segment(128 * 1024 * 1024)]))

ctx = mp.get_context("fork")
recv, send = ctx.Pipe(duplex=False)
child = ctx.Process(target=build, args=(send,))
child.start()
data = recv.recv_bytes()
child.join()
decode_frame(encode_frame({"type": "rows"}, [segment(10)]), APPS)  # first-use allocations
peak = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
before = peak()
try:
    decode_frame(data, APPS)
    code = None
except ProtocolError as err:
    code = err.code
refused = peak()
rss = lambda: int(open("/proc/self/statm").read().split()[1]) * resource.getpagesize()
held = rss()
header, start = read_header(data)
table = pa.ipc.open_stream(pa.py_buffer(data[start:])).read_all()  # what Arrow alone allocates
print(json.dumps({"bytes": len(data), "code": code, "decode_growth": refused - before,
                  "arrow_growth": rss() - held}))
"""


def test_a_7_kb_bomb_of_128_mib_is_refused_and_memory_stays_low() -> None:
    """The peak RSS of the decoding process does not grow; Arrow alone would hold 128 MiB."""
    run = subprocess.run([sys.executable, "-c", BOMB], capture_output=True, text=True,
                         timeout=120, check=True)
    result = json.loads(run.stdout)
    assert result["bytes"] < 16 * 1024, result  # about 7 kB on the wire
    assert result["code"] == "limit_exceeded", result
    assert result["decode_growth"] < 8 * MIB, result  # refused before any allocation
    assert result["arrow_growth"] > MAX_DECOMPRESSED_BYTES, result  # the bomb is real


def test_a_frame_of_many_tiny_record_batches_is_refused() -> None:
    """Each Arrow message costs fixed work: 2,000 one-row batches in 1.5 MB would cost
    about 150 times a one-batch segment of the same rows."""
    batch = segment(1).rows.to_batches()[0]
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, batch.schema) as writer:
        for _ in range(2000):
            writer.write_batch(batch)
    body = sink.getvalue().to_pybytes()
    header = json.dumps({"type": "rows", "segments": [
        {"table": "todos", "schema_hash": APP.schema_hash, "bytes": len(body)}]}).encode()
    with pytest.raises(ProtocolError) as err:
        decode_frame(b"JZB1" + struct.pack(">I", len(header)) + header + body, APPS)
    assert err.value.code == "malformed_frame" and "more than 1024 Arrow messages" in str(
        err.value)


def test_senders_combine_many_chunks_into_one_batch() -> None:
    rows = pa.concat_tables([segment(3, i).rows for i in range(1, 101)])
    assert rows.column(0).num_chunks == 100
    data = encode_frame({"type": "rows"}, [Segment("todos", APP.schema_hash, rows)])
    assert decode_frame(data, APPS)[1][0].rows.num_rows == 100
