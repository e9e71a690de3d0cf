"""Mutation fuzzing of the sync decoders: binary frames, Arrow segments, JSON control messages.

    python -m bench.fuzz            # 1,000,000+ inputs in process, 20,000 against a server
    python -m bench.fuzz --quick    # 20,000 in process, 500 against a server (CI size, < 60 s)

In process: worker child processes (one per core) decode mutated inputs -- bit flips, byte
replacements, interesting integers written over length fields (the flatbuffer metadata and the
int64 uncompressed-length prefixes of compressed buffers), truncations, splices, deletions --
of valid frames built with ``encode_frame`` (uncompressed, zstd- and lz4-compressed segments, a
decompression bomb) and of valid JSON messages. Each input ``i`` of a run is rebuilt from
``(kind, seed, i)``, so a worker that dies by a signal is a counted *crash* (its input is saved
under ``--save``) and a worker still busy after ``--bound`` seconds is a counted *hang*; the
pool restarts the worker after the input. Decoding may accept or refuse (``ProtocolError``);
any other exception is an *error*.

Against a server: a real ``jazz-nb server`` process on 127.0.0.1 gets mutated batch frames and
JSON messages over raw WebSockets (a new connection after each close), each followed by a ping
(a refused subscription) that must be answered within ``--bound`` seconds; meanwhile a
bystander client (``jazz_nb.sync.connect``) keeps writing rows, waits for each to be confirmed
and to reach its live query, and reads every row back.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing as mp
import os
import random
import struct
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from bench.report import print_table
from jazz_nb import s
from jazz_nb.errors import ProtocolError
from jazz_nb.store.store import Store
from jazz_nb.store.versions import RowVersion
from jazz_nb.sync import protocol as p
from jazz_nb.sync.bulk import apply_segments
from jazz_nb.sync.frames import (
    COMPRESS_MIN_BYTES,
    Segment,
    decode_frame,
    encode_frame,
    read_header,
    segment_versions,
    versions_to_arrow,
    wire_schema,
)

APP_ID = "bench-fuzz"
ADMIN = "bench-fuzz-admin"
INTERESTING = (0, 1, 2, 7, 8, 15, 16, 63, 64, 127, 128, 255, 256, 4096, 0x7FFF, 0x8000, 0xFFFF,
               1 << 20, 1 << 27, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, 1 << 32, 1 << 40, 1 << 62,
               2**63 - 1, 2**63, 2**64 - 1)


def fuzz_app() -> s.App:
    """Every column type, required and optional, nested arrays, two tables."""
    return s.define_app({
        "items": s.table(title=s.string(), done=s.boolean(default=False), n=s.int().optional(),
                         big=s.bigint(), x=s.float(), at=s.timestamp(), owner=s.uuid(),
                         note_id=s.ref("notes").optional(), blob=s.bytes().optional(),
                         meta=s.json(), kind=s.enum("a", "b", "c"), tags=s.array(s.string()),
                         grid=s.array(s.array(s.int())).optional()),
        "notes": s.table(text=s.string(), due=s.timestamp().optional()),
    })


APP = fuzz_app()
APPS = {APP.schema_hash: APP}


# -- the seed corpus (deterministic) -----------------------------------------------------------
def _uuid(rnd: random.Random) -> str:
    h = f"{rnd.getrandbits(128):032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _item(rnd: random.Random, i: int) -> dict[str, Any]:
    return {"title": f"title {i} " * (1 + i % 4), "done": bool(i % 2),
            "n": None if i % 4 == 0 else i - 50, "big": i * 10**12, "x": i / 3,
            "at": 1_700_000_000_000 + i, "owner": _uuid(rnd),
            "note_id": None if i % 3 else _uuid(rnd),
            "blob": bytes(rnd.getrandbits(8) for _ in range(i % 9)) if i % 2 else None,
            "meta": json.dumps({"i": i, "k": [1, "x"]}, separators=(",", ":"), sort_keys=True),
            "kind": "abc"[i % 3], "tags": ["t"] * (i % 4),
            "grid": None if i % 5 == 0 else [[j] * (i % 3) for j in range(i % 4)]}


def _versions(rnd: random.Random, table: str, n: int, batch: str, user: str,
              ) -> list[RowVersion]:
    out = []
    for i in range(n):
        data = _item(rnd, i) if table == "items" else {"text": f"note {i}",
                                                        "due": None if i % 2 else i * 1000}
        kind = "hard" if i % 11 == 5 else "soft" if i % 7 == 3 else None
        parents = tuple(f"{rnd.getrandbits(128):032x}" for _ in range(i % 3))
        out.append(RowVersion(table, _uuid(rnd), batch, parents, 1_700_000_000_000_000 + i, user,
                              1_700_000_000_000_000, user, {} if kind == "hard" else data,
                              "VisibleDirect", None, kind))
    return out


def _ipc(rows: pa.Table, compression: str | None) -> bytes:
    sink = pa.BufferOutputStream()
    options = pa.ipc.IpcWriteOptions(compression=compression)
    with pa.ipc.new_stream(sink, rows.schema, options=options) as writer:
        writer.write_table(rows)
    return sink.getvalue().to_pybytes()


def frame_of(header: dict[str, Any], bodies: list[tuple[str, bytes]]) -> bytes:
    """A binary frame of raw segment bodies ``(table, ipc bytes)`` of ``APP``'s schema."""
    head = dict(header, segments=[{"table": table, "schema_hash": APP.schema_hash,
                                   "bytes": len(body)} for table, body in bodies])
    text = json.dumps(head, separators=(",", ":")).encode()
    return b"".join([b"JZB1", struct.pack(">I", len(text)), text, *(b for _, b in bodies)])


def bomb_segment(size: int) -> bytes:
    """A zstd-compressed segment of one ``items`` row whose title inflates to ``size`` bytes."""
    data = dict(_item(random.Random(0), 1), title="a" * size)
    v = RowVersion("items", "00000000-0000-7000-8000-000000000001", "ab" * 16, (), 1, "u", 1,
                   "u", data)
    return _ipc(versions_to_arrow(APP.table("items"), [v]), "zstd")


@dataclass
class Corpus:
    """Valid frames (with their segments' byte ranges) and JSON messages to mutate."""

    frames: list[bytes] = field(default_factory=list)
    segments: list[list[tuple[str, bytes]]] = field(default_factory=list)
    weights: list[float] = field(default_factory=list)
    messages: list[tuple[p.Side, str]] = field(default_factory=list)


def corpus(user: str = "fuzz-user", *, bomb: bool = True) -> Corpus:
    """The seeds; batch frames carry ``user`` as their writer."""
    rnd = random.Random(20240521)
    out = Corpus()

    def add(header: dict[str, Any], bodies: list[tuple[str, bytes]], weight: float) -> None:
        out.frames.append(frame_of(header, bodies))
        out.segments.append(bodies)
        out.weights.append(weight)

    def batch() -> dict[str, Any]:
        return {"type": "batch", "batch_id": f"{rnd.getrandbits(128):032x}", "mode": "direct"}

    for n in (1, 3, 12):
        head = batch()
        rows = versions_to_arrow(APP.table("items"), _versions(rnd, "items", n,
                                                               head["batch_id"], user))
        add(head, [("items", _ipc(rows, None))], 3.0)
    head = batch()
    add(head, [(t, _ipc(versions_to_arrow(APP.table(t), _versions(rnd, t, 4, head["batch_id"],
                                                                    user)), None))
               for t in ("items", "notes")], 2.0)
    head = batch()
    big = versions_to_arrow(APP.table("items"), _versions(rnd, "items", 40, head["batch_id"],
                                                          user))
    add(head, [("items", _ipc(big, "zstd"))], 1.5)
    add(head, [("items", _ipc(big, "lz4"))], 1.0)
    head = batch()
    rows = versions_to_arrow(APP.table("items"), _versions(rnd, "items", 1, head["batch_id"],
                                                           user))
    while rows.nbytes < COMPRESS_MIN_BYTES:
        rows = pa.concat_tables([rows, rows]).combine_chunks()
    add(head, [("items", _ipc(rows, "zstd"))], 0.3)  # as big frames travel (encode_frame)
    if bomb:
        add(batch(), [("items", bomb_segment(200 * 1024 * 1024))], 0.2)
    rows = versions_to_arrow(APP.table("items"), _versions(rnd, "items", 5, "cd" * 16, user))
    rows_frame = encode_frame({"type": "rows"}, [Segment("items", APP.schema_hash, rows,
                                                         fresh=True)])
    out.frames.append(rows_frame)
    out.segments.append([])
    out.weights.append(1.0)
    query = {"table": "items", "where": {"and": [{"column": "n", "op": "gt", "value": 3}]},
             "include": {"note_id": {"table": "notes"}}, "order": [["at", "desc"]], "limit": 10}
    out.messages = [
        (p.CLIENT, p.encode({"type": "hello", "protocol": 1, "client_id": "c", "schema_hash":
                             APP.schema_hash, "auth": {"token": "eyJ.eyJ.sig"}})),
        (p.CLIENT, p.encode({"type": "subscribe", "id": 1, "query": query, "tier": "edge"})),
        (p.CLIENT, p.encode({"type": "unsubscribe", "id": 1})),
        (p.CLIENT, p.encode({"type": "heartbeat"})),
        (p.SERVER, p.encode({"type": "welcome", "protocol": 1, "connection_id": "x",
                             "tier": "global", "role": "user", "max_frame_bytes": 1 << 25,
                             "limits": {"decompressed_bytes": 1 << 27}})),
        (p.SERVER, p.encode({"type": "settled", "id": 1, "tier": "global"})),
        (p.SERVER, p.encode({"type": "fate", "batch_id": "ab" * 16, "kind": "rejected",
                             "code": "invalid_batch_submission", "reason": "x"})),
        (p.SERVER, p.encode({"type": "error", "code": "limit_exceeded", "message": "m",
                             "limit": "decompressed_bytes", "max": 1 << 27})),
    ]
    return out


# -- mutations ---------------------------------------------------------------------------------
def mutate(data: bytes, rnd: random.Random, donor: bytes, lo: int = 0) -> bytes:
    """``data`` after 1 to 10 random edits at or after offset ``lo`` (mostly)."""
    b = bytearray(data)
    for _ in range(rnd.choice((1, 1, 1, 2, 2, 3, 5, 10))):
        low = lo if lo < len(b) and rnd.random() < 0.9 else 0
        if len(b) <= low:
            b += bytes([rnd.getrandbits(8)])
            continue
        at = rnd.randrange(low, len(b))
        op = rnd.randrange(9)
        if op == 0:
            b[at] ^= 1 << rnd.randrange(8)
        elif op == 1:
            b[at] = rnd.choice((0, 0xFF, 0x7F, 0x80, 0x01, rnd.getrandbits(8)))
        elif op in (2, 3):  # a length/offset field: aligned little-endian ints
            size = rnd.choice((4, 8)) if op == 2 else 8
            at -= (at - low) % size if rnd.random() < 0.8 else 0
            value = (rnd.choice(INTERESTING) + rnd.choice((0, 0, -1, 1))) % (1 << (8 * size))
            if rnd.random() < 0.3:
                value = (int.from_bytes(b[at:at + size], "little") * rnd.choice((2, 16, 1024))
                         ) % (1 << (8 * size))
            b[at:at + size] = value.to_bytes(size, "little")
        elif op == 4:
            del b[rnd.randrange(low, len(b) + 1):]
        elif op == 5:
            start = rnd.randrange(len(donor)) if donor else 0
            b[at:at] = donor[start:start + rnd.randrange(1, 64)]
        elif op == 6:
            src = rnd.randrange(low, len(b))
            n = rnd.randrange(1, 32)
            b[at:at + n] = b[src:src + n]
        elif op == 7:
            del b[at:at + rnd.randrange(1, 16)]
        else:
            b[at:at] = bytes(rnd.getrandbits(8) for _ in range(rnd.randrange(1, 9)))
    return bytes(b)


def _fix_lengths(frame: bytes) -> bytes:
    """Re-state the header's lengths for the bytes present (so the segments reach Arrow)."""
    try:
        size = struct.unpack(">I", frame[4:8])[0]
        head = json.loads(frame[8:8 + size])
        segs = head["segments"]
        rest = len(frame) - 8 - size - sum(int(x["bytes"]) for x in segs[:-1])
        segs[-1]["bytes"] = rest
        text = json.dumps(head).encode()
    except (ValueError, KeyError, TypeError, IndexError, AttributeError, RecursionError,
            struct.error):
        return frame
    return frame[:4] + struct.pack(">I", len(text)) + text + frame[8 + size:]


def frame_input(c: Corpus, rnd: random.Random) -> bytes:
    """A mutated whole frame (header included), its lengths re-stated half of the time."""
    i = rnd.choices(range(len(c.frames)), c.weights)[0]
    frame = c.frames[i]
    head = 8 + struct.unpack(">I", frame[4:8])[0]
    data = mutate(frame, rnd, rnd.choice(c.frames), 0 if rnd.random() < 0.15 else head)
    return _fix_lengths(data) if rnd.random() < 0.5 else data


def segment_input(c: Corpus, rnd: random.Random) -> bytes:
    """A valid header around one mutated Arrow IPC segment (or a valid segment's splice)."""
    choices = [i for i, segs in enumerate(c.segments) if segs]
    i = rnd.choices(choices, [c.weights[j] for j in choices])[0]
    bodies = list(c.segments[i])
    k = rnd.randrange(len(bodies))
    table, body = bodies[k]
    donor = rnd.choice([b for segs in c.segments for _, b in segs])
    if rnd.random() < 0.1:  # another stream's messages after this one's schema
        cut = rnd.randrange(len(body))
        body = body[:cut] + donor[rnd.randrange(len(donor)):]
    else:
        body = mutate(body, rnd, donor)
    bodies[k] = (table, body)
    header = json.loads(c.frames[i][8:8 + struct.unpack(">I", c.frames[i][4:8])[0]])
    header.pop("segments", None)
    return frame_of(header, bodies)


def _random_json(rnd: random.Random, depth: int = 0) -> Any:
    pick = rnd.randrange(10 if depth < 3 else 6)
    if pick == 0:
        return rnd.choice((0, -1, 2**31, 2**63, 10**30, -(2**70)))
    if pick == 1:
        return rnd.choice((0.5, -0.0, 1e308, float("nan"), float("inf")))
    if pick == 2:
        return rnd.choice(("", "x" * rnd.randrange(1, 300), "\ud800", "edge", "global", "\x00"))
    if pick == 3:
        return rnd.choice((True, False, None))
    if pick in (4, 5):
        return rnd.choice(("hello", "subscribe", "batch", "rows", "error", "fate"))
    if pick in (6, 7):
        return [_random_json(rnd, depth + 1) for _ in range(rnd.randrange(4))]
    return {rnd.choice(("type", "id", "query", "tier", "table", "where", "x")):
            _random_json(rnd, depth + 1) for _ in range(rnd.randrange(4))}


def _swap_value(value: Any, rnd: random.Random) -> Any:
    if isinstance(value, dict) and value and rnd.random() < 0.7:
        key = rnd.choice(list(value))
        if rnd.random() < 0.15:
            return {k: v for k, v in value.items() if k != key}
        return {**value, key: _swap_value(value[key], rnd)}
    if isinstance(value, list) and value and rnd.random() < 0.7:
        i = rnd.randrange(len(value))
        return [*value[:i], _swap_value(value[i], rnd), *value[i + 1:]]
    return _random_json(rnd)


def json_input(c: Corpus, rnd: random.Random) -> tuple[p.Side, str | bytes]:
    """A mutated JSON control message and the side it claims to come from."""
    side, text = rnd.choice(c.messages)
    side = side if rnd.random() < 0.8 else rnd.choice((p.CLIENT, p.SERVER))
    pick = rnd.randrange(10)
    if pick < 4:
        return side, json.dumps(_swap_value(json.loads(text), rnd))
    if pick < 5:
        depth = rnd.choice((100, 990, 5000, 100_000))
        return side, "[" * depth + "]" * (depth if rnd.random() < 0.5 else 0)
    if pick < 6:
        return side, '{"type":"subscribe","id":' + "9" * rnd.choice((20, 5000)) + "}"
    data = mutate(text.encode(), rnd, rnd.choice(c.messages)[1].encode())
    return side, data if rnd.random() < 0.3 else data.decode("utf-8", "replace")


KINDS: dict[str, Callable[[Corpus, random.Random], Any]] = {
    "frames": frame_input, "segments": segment_input, "json": json_input,
    "unhardened": segment_input}


def make_input(c: Corpus, kind: str, seed: int, i: int) -> Any:
    """Input ``i`` of the run ``(kind, seed)``: the same value every time."""
    return KINDS[kind](c, random.Random(f"{kind}:{seed}:{i}"))


# -- the in-process target ---------------------------------------------------------------------
def run_input(kind: str, value: Any) -> str:
    """Decode one input as a server would (values checked, then ``segment_versions``) and as a
    client would (``check_values=False``, then ``apply_segments`` into its DuckDB store):
    ``accepted``, ``rejected`` (``ProtocolError``) or ``error:<exception type>``."""
    try:
        if kind == "json":
            p.decode(value[1], value[0])
            return "accepted"
        if kind == "unhardened":
            return _unhardened(value)
        outcome = "accepted"
        try:
            for seg in decode_frame(value, APPS)[1]:  # the server: full checks
                segment_versions(seg, APP.table(seg.table), APP.schema_hash)
        except ProtocolError:
            outcome = "rejected"
        segments = decode_frame(value, APPS, check_values=False)[1]  # the client: no values
        for seg in segments:
            segment_versions(seg, APP.table(seg.table), APP.schema_hash)
        with contextlib.suppress(Exception):  # the client logs a store error and goes on
            apply_segments(_client_store(), APP, segments)
        return outcome
    except ProtocolError:
        return "rejected"
    except Exception as err:
        return f"error:{type(err).__name__}"


_SEEDS: dict[str, Corpus] = {}


def shared_corpus() -> Corpus:
    """The in-process corpus, built once (forked workers inherit it)."""
    if "c" not in _SEEDS:
        _SEEDS["c"] = corpus()
    return _SEEDS["c"]


def _client_store() -> Store:
    """One in-memory client store per worker process, that accepted frames are applied to."""
    if os.getpid() not in _STORES:
        _STORES[os.getpid()] = Store(APP)
    return _STORES[os.getpid()]


_STORES: dict[int, Store] = {}


def _unhardened(frame: bytes) -> str:
    """What decoding did before the hardening: ``read_all``, a schema comparison, then compute
    functions and ``to_pylist`` on unvalidated arrays (for scale: how often that crashes)."""
    header, offset = read_header(frame)
    outcome = "accepted"
    for spec in header["segments"]:
        body = frame[offset:offset + spec["bytes"]]
        offset += spec["bytes"]
        try:
            rows = pa.ipc.open_stream(pa.py_buffer(body)).read_all()
        except (pa.ArrowException, OSError, ValueError):
            outcome = "rejected"
            continue
        if not rows.schema.equals(wire_schema(APP.table(spec["table"]))):
            outcome = "rejected"
            continue
        pc.match_substring_regex(rows.column("_jz_row_id"), "^[0-9a-f-]{36}$")
        pc.list_flatten(rows.column("_jz_parents"))
        rows.column("_jz_delete_kind").drop_null()
        rows.to_pylist()
    return outcome


def _worker(kind: str, seed: int, start: int, stop: int, progress: Any, pipe: Any) -> None:
    os.dup2(os.open(os.devnull, os.O_WRONLY), 2)  # Arrow's abort messages would flood the table
    c = shared_corpus()
    counts: Counter[str] = Counter()
    errors = 0
    for i in range(start, stop):
        progress[0], progress[1] = i, time.monotonic()
        outcome = run_input(kind, make_input(c, kind, seed, i))
        counts[outcome] += 1
        if outcome.startswith("error") and errors < 10:
            errors += 1
            pipe.send(("error", i))
        if len(counts) and (i - start) % 500 == 499:  # reported as it goes: a crash loses little
            pipe.send(("counts", dict(counts)))
            counts.clear()
    progress[0] = stop
    pipe.send(("counts", dict(counts)))


@dataclass
class Stats:
    """Outcomes of one fuzz target."""

    name: str
    inputs: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    crashes: list[int] = field(default_factory=list)
    hangs: list[int] = field(default_factory=list)
    errors: list[int] = field(default_factory=list)
    seconds: float = 0.0
    slowest: tuple[float, str] = (0.0, "")

    @property
    def row(self) -> list[object]:
        bad = sum(n for k, n in self.outcomes.items() if k.startswith("error"))
        return [self.name, f"{self.inputs:,}", f"{self.outcomes['accepted']:,}",
                f"{self.outcomes['rejected']:,}", bad, len(self.crashes), len(self.hangs),
                f"{self.inputs / self.seconds:,.0f}" if self.seconds else "-"]


def fuzz_in_process(kind: str, total: int, *, workers: int = 2, bound: float = 5.0,
                    seed: int = 1, save: Path | None = None, chunk: int = 20_000) -> Stats:
    """Run ``total`` inputs of ``kind`` in worker processes; crashes and hangs are counted."""
    ctx = mp.get_context("fork")
    stats = Stats(kind, total)
    todo = [(a, min(a + chunk, total)) for a in range(0, total, chunk)]
    running: list[tuple[Any, Any, Any, int]] = []
    c = shared_corpus()
    started = time.monotonic()

    def launch(a: int, b: int) -> None:
        progress = ctx.Array("d", [a, time.monotonic()], lock=False)
        recv, send = ctx.Pipe(duplex=False)
        proc = ctx.Process(target=_worker, args=(kind, seed, a, b, progress, send), daemon=True)
        proc.start()
        send.close()
        running.append((proc, recv, progress, b))

    def record(where: list[int], i: int, what: str) -> None:
        where.append(i)
        if save is not None:
            save.mkdir(parents=True, exist_ok=True)
            value = make_input(c, kind, seed, i)
            data = value[1] if kind == "json" else value
            (save / f"{kind}-{seed}-{i}.{what}").write_bytes(
                data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data)

    while todo or running:
        while todo and len(running) < workers:
            launch(*todo.pop(0))
        time.sleep(0.05)
        for item in list(running):
            proc, recv, progress, stop = item
            while recv.poll():
                try:
                    tag, payload = recv.recv()
                except EOFError:
                    break
                if tag == "error":
                    record(stats.errors, payload, "error")
                else:
                    stats.outcomes.update(payload)
            if proc.exitcode is None and time.monotonic() - progress[1] <= bound:
                continue
            if proc.exitcode is None:  # a hang: the current input exceeded the bound
                proc.kill()
                proc.join()
                record(stats.hangs, int(progress[0]), "hang")
            elif proc.exitcode > 0:
                raise RuntimeError(f"fuzz worker failed near input {int(progress[0])} (exit "
                                   f"code {proc.exitcode}): a bug of the harness")
            elif proc.exitcode < 0:  # killed by a signal: SIGSEGV, SIGABRT, ...
                record(stats.crashes, int(progress[0]), f"crash{-proc.exitcode}")
            else:
                proc.join()
                running.remove(item)
                continue
            running.remove(item)
            nxt = int(progress[0]) + 1
            if nxt < stop:
                todo.insert(0, (nxt, stop))
    stats.seconds = time.monotonic() - started
    known = sum(stats.outcomes.values()) + len(stats.crashes) + len(stats.hangs)
    stats.outcomes["lost"] = total - known  # inputs a dead worker ran but did not report
    return stats


# -- against a server --------------------------------------------------------------------------
@dataclass
class Bystander:
    """A client that keeps writing and reading while the server is fuzzed."""

    url: str
    writes: int = 0
    ok: int = 0
    reads: int = 0
    failures: list[str] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        from jazz_nb.auth.identity import generate_secret
        from jazz_nb.sync import connect

        db = connect(APP, app_id=APP_ID, server_url=self.url, secret=generate_secret())
        try:
            live = db.live(APP.notes)
            while not self.stop.is_set():
                self.writes += 1
                try:
                    row = db.insert(APP.notes, {"text": f"bystander {self.writes}",
                                                "due": self.writes}).wait("global", timeout=15)
                    live.wait_for(lambda lq, rid=row.id: rid in lq.ids, timeout=15)
                    for item in db.all(APP.items, tier="edge"):  # every value readable
                        dict(item)
                    self.reads += 1
                    self.ok += 1
                except Exception as err:
                    self.failures.append(f"{type(err).__name__}: {err}")
                self.stop.wait(0.05)
        finally:
            db.close()


def fuzz_server(total: int, *, bound: float = 10.0, seed: int = 2) -> tuple[Stats, Bystander,
                                                                             bool]:
    """Send ``total`` mutated frames and messages to a real server with a bystander client."""
    from websockets.exceptions import ConnectionClosed
    from websockets.sync.client import connect as ws_connect

    from jazz_nb.auth.identity import generate_secret, user_id
    from jazz_nb.auth.tokens import mint_token
    from jazz_nb.policy import define_permissions
    from jazz_nb.sync import deploy, start_local_server

    def open_rules(policy: Any) -> None:
        for table in ("items", "notes"):
            rules = getattr(policy, table)
            for rule in (rules.allow_read, rules.allow_insert, rules.allow_update,
                         rules.allow_delete):
                rule.always()

    secret = generate_secret()
    c = corpus(user_id(secret), bomb=False)
    stats = Stats("server (raw ws)", total)
    with start_local_server(port=0, admin_secret=ADMIN) as server:
        deploy(server.url, APP_ID, admin_secret=ADMIN, app=APP,
               permissions=define_permissions(APP, open_rules))
        bystander = Bystander(server.url)
        thread = threading.Thread(target=bystander.run, daemon=True)
        thread.start()
        url = f"{server.url}/apps/{APP_ID}/ws"

        def drive(ws: Any, i: int) -> int:
            """Send inputs from ``i`` on until the server closes the connection; the next i."""
            while i < total:
                rnd = random.Random(f"server:{seed}:{i}")
                kind = rnd.choices(("frames", "segments", "json"), (4, 4, 2))[0]
                value = KINDS[kind](c, rnd)
                i += 1
                sent = time.monotonic()
                try:
                    ws.send(value[1] if kind == "json" else value)
                    ws.send(p.encode({"type": "subscribe", "id": -i,
                                      "query": {"table": "nope"}, "tier": "edge"}))
                    outcome = _await_ping(ws, -i, bound)
                except ConnectionClosed:
                    outcome = "closed"
                took = time.monotonic() - sent
                stats.slowest = max(stats.slowest, (took, f"{kind} input {i - 1}"))
                if outcome == "hang" or took > bound:
                    stats.hangs.append(i - 1)
                stats.outcomes[outcome] += 1
                if outcome in ("closed", "hang"):
                    break
            return i

        started = time.monotonic()
        i = 0
        while i < total:
            try:
                with ws_connect(url, max_size=None, open_timeout=bound, close_timeout=0.1) as ws:
                    ws.send(p.encode({"type": "hello", "protocol": 1, "client_id": "fuzz",
                                      "schema_hash": APP.schema_hash,
                                      "auth": {"token": mint_token(secret, APP_ID)}}))
                    assert json.loads(ws.recv(timeout=bound))["type"] == "welcome"
                    i = drive(ws, i)
            except (OSError, TimeoutError, ConnectionClosed):  # no connection or no welcome
                stats.hangs.append(i)
                i += 1
        stats.seconds = time.monotonic() - started
        bystander.stop.set()
        thread.join(60)
        alive = server.process is not None and server.process.poll() is None and server.healthy()
    return stats, bystander, alive


def _await_ping(ws: Any, ping: int, bound: float) -> str:
    """Read until the answer to the ping: ``internal`` if the server reported a bug."""
    deadline = time.monotonic() + bound
    outcome = "answered"
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return "hang"
        try:
            message = ws.recv(timeout=left)
        except TimeoutError:
            return "hang"
        if not isinstance(message, str):
            continue
        data = json.loads(message)
        if data.get("code") == "internal":
            outcome = "internal"
        if data.get("id") == ping:
            return outcome


# -- main --------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the fuzz campaign, print the table; returns the totals (for the CI test)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="CI size (under a minute)")
    parser.add_argument("--frames", type=int, help="inputs of each in-process kind")
    parser.add_argument("--server", type=int, help="inputs sent to the server")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--bound", type=float, default=5.0, help="seconds per input")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--save", type=Path, help="directory for crashing/hanging inputs")
    parser.add_argument("--unhardened", type=int, help="segment inputs for the pre-hardening "
                                                       "decoder (for scale; its crashes are "
                                                       "expected and not counted)")
    args = parser.parse_args(argv)
    per_kind = args.frames or (7_000 if args.quick else 350_000)
    sizes = {"frames": per_kind, "segments": per_kind,
             "json": 4_000 if args.quick else 300_000}
    results = [fuzz_in_process(kind, n, workers=args.workers, bound=args.bound, seed=args.seed,
                               save=args.save) for kind, n in sizes.items()]
    scale = args.unhardened if args.unhardened is not None else (0 if args.quick else 10_000)
    unhardened = fuzz_in_process("unhardened", scale, workers=args.workers, bound=args.bound,
                                 seed=args.seed) if scale else None
    server_stats, bystander, alive = fuzz_server(args.server or (300 if args.quick else 20_000),
                                                 bound=2 * args.bound, seed=args.seed)
    rows = [r.row for r in results]
    srv = server_stats
    rows.append([srv.name, f"{srv.inputs:,}", f"{srv.outcomes['answered']:,}",
                 f"{srv.outcomes['closed']:,}", srv.outcomes["internal"],
                 0 if alive else 1, len(srv.hangs), f"{srv.inputs / srv.seconds:,.0f}"])
    inputs = sum(r.inputs for r in results) + srv.inputs
    crashes = sum(len(r.crashes) for r in results) + (0 if alive else 1)
    hangs = sum(len(r.hangs) for r in results) + len(srv.hangs)
    errors = sum(n for r in results for k, n in r.outcomes.items() if k.startswith("error"))
    rows.append(["total", f"{inputs:,}", "", "", errors, crashes, hangs, ""])
    print_table("bench.fuzz: mutated inputs to the sync decoders", rows,
                header=("target", "inputs", "accepted", "refused", "errors", "crashes",
                        "hangs", "inputs/s"))
    print(f"bystander writes ok: {bystander.ok}/{bystander.writes} (each confirmed and in its "
          f"live query), reads ok: {bystander.reads}; server alive after: {alive}; slowest "
          f"server answer {srv.slowest[0]:.2f} s ({srv.slowest[1]})")
    if unhardened is not None:
        print(f"for scale, the unhardened decoder (read_all, compute, to_pylist) on "
              f"{unhardened.inputs:,} segment inputs: {len(unhardened.crashes):,} crashes, "
              f"{len(unhardened.hangs)} hangs, {unhardened.row[4]} other exceptions (not "
              f"counted above)")
    for failure in bystander.failures[:5]:
        print("  bystander:", failure)
    for r in results:
        for what, found in (("crash", r.crashes), ("hang", r.hangs), ("error", r.errors)):
            if found:
                print(f"  {r.name} {what}es at inputs {found[:10]} (seed {args.seed})")
    totals = {"inputs": inputs, "crashes": crashes, "hangs": hangs, "errors": errors,
              "bystander_writes": bystander.writes, "bystander_ok": bystander.ok,
              "server_alive": alive}
    print("totals: " + json.dumps(totals))
    return totals


if __name__ == "__main__":
    totals = main()
    sys.exit(0 if not (totals["crashes"] or totals["hangs"] or totals["errors"]) and
             totals["bystander_ok"] == totals["bystander_writes"] else 1)
