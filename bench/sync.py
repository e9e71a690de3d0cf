"""Sync on loopback: write-to-live-frame latency, initial sync of a big table, fan-out under load.

    python -m bench.sync            # 1,000,000-row initial sync; 50 clients, 1,000 writes/s, 30 s
    python -m bench.sync --quick    # 100,000 rows; 50 clients, 1,000 writes/s, 5 s (CI smoke)

Every party is a real process talking through a real ``jazz-nb server`` process on 127.0.0.1:

* latency — client A inserts one row at a time; client B (another process) has a live query;
  time from A's ``insert`` call to the row being in B's live frame. Naive: B polls the server
  with a re-query (``db.all(q, tier="edge")``, no live subscription). Floor: 2 KiB (about one
  insert's frame) sent from A's process through a bare websocket relay process to another
  process, which notes the time it arrived (no decoding, no store, no frame).
* initial sync — a fresh client connects, opens a live query on a table of ``--rows`` rows and
  waits until its frame holds them all (store + live frame). Naive: the same rows through the
  generic path (``RowVersion`` objects into ``store.apply``).
* fan-out — ``--clients`` clients (in ``--procs`` processes) each with a live query; a writer
  process inserts ``--rate`` rows/s in batches of ``--batch`` for ``--seconds``; delivery =
  write call to row in every client's live frame; every row must reach every client. Naive:
  polling every 100 ms (a delivery waits half the interval plus a re-query on average).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import pyarrow as pa

from bench.report import print_table
from jazz_nb import s
from jazz_nb.auth.identity import generate_secret
from jazz_nb.sync import connect, deploy, start_local_server
from jazz_nb.sync.connect import allow_all

APP_ID = "bench-sync"
ADMIN = "bench-admin"
WARMUP = 5


def bench_app() -> s.App:
    return s.define_app({"todos": s.table(title=s.string(), done=s.boolean(default=False),
                                          priority=s.int().optional(), sent=s.float())})


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def _ok(flag: bool) -> str:
    return "yes" if flag else "NO"


# -- 1. latency -------------------------------------------------------------------------------
def _latency_reader(url: str, app_id: str, naive: bool, pipe: Any) -> None:
    app = bench_app()
    db = connect(app, app_id=app_id, server_url=url, secret=generate_secret())
    seen: dict[str, float] = {}
    live = None
    if not naive:
        live = db.live(app.todos)
        live.on_change(lambda lq, delta: seen.update(dict.fromkeys(delta.added,
                                                                  time.perf_counter())))
        db.settle(app.todos, "global")
    pipe.send("ready")
    while (wanted := pipe.recv()) is not None:
        while wanted not in seen:
            if live is not None:
                live.wait_for(lambda lq: wanted in seen, timeout=30)
            elif wanted in {r.id for r in db.all(app.todos, tier="edge")}:
                seen[wanted] = time.perf_counter()
        pipe.send(seen[wanted])
    db.close()


def latency(url: str, samples: int, naive: bool) -> list[float]:
    """Seconds from A's insert to the row in B's frame (naive: B polling)."""
    app = bench_app()
    app_id = f"{APP_ID}-latency-{'naive' if naive else 'live'}"
    deploy(url, app_id, admin_secret=ADMIN, app=app, permissions=allow_all(app))
    here, there = mp.Pipe()
    reader = mp.get_context("spawn").Process(target=_latency_reader,
                                             args=(url, app_id, naive, there))
    reader.start()
    writer = connect(app, app_id=app_id, server_url=url, secret=generate_secret())
    assert here.recv() == "ready"
    out = []
    for i in range(WARMUP + samples):  # the first writes warm caches and imports up
        start = time.perf_counter()
        row = writer.insert(app.todos, {"title": f"r{i}", "sent": start})
        here.send(row.id)
        out.append(here.recv() - start)
    del out[:WARMUP]
    here.send(None)
    reader.join(30)
    writer.close()
    return out


# -- 1b. the relay floor ----------------------------------------------------------------------
RELAY_BYTES = 2048  # about one insert's upstream frame


def _relay(port: Any) -> None:
    """A bare websocket relay: the first connection receives every message of the others."""
    import asyncio

    import websockets

    async def serve() -> None:
        receivers: list[Any] = []

        async def handle(ws: Any) -> None:
            if not receivers:
                receivers.append(ws)
                await ws.wait_closed()
                return
            async for message in ws:
                await receivers[0].send(message)

        async with websockets.serve(handle, "127.0.0.1", 0) as server:
            port.put(next(iter(server.sockets)).getsockname()[1])
            await asyncio.get_running_loop().create_future()

    asyncio.run(serve())


def _relay_reader(url: str, pipe: Any) -> None:
    from websockets.sync.client import connect as ws_connect

    with ws_connect(url) as ws:
        pipe.send("ready")
        while True:
            ws.recv()
            pipe.send(time.perf_counter())


def relay_floor(samples: int) -> list[float]:
    """Seconds for ``RELAY_BYTES`` sent by this process to reach another process through a
    bare websocket relay process on loopback (no decoding, no store, no frame)."""
    from websockets.sync.client import connect as ws_connect

    ctx = mp.get_context("spawn")
    port = ctx.Queue()
    relay = ctx.Process(target=_relay, args=(port,), daemon=True)
    relay.start()
    url = f"ws://127.0.0.1:{port.get(timeout=60)}"
    here, there = ctx.Pipe()
    reader = ctx.Process(target=_relay_reader, args=(url, there), daemon=True)
    reader.start()
    assert here.recv() == "ready"
    payload = bytes(RELAY_BYTES)
    out = []
    with ws_connect(url) as ws:
        for _ in range(WARMUP + samples):
            start = time.perf_counter()
            ws.send(payload)
            out.append(here.recv() - start)
    for process in (reader, relay):
        process.terminate()
        process.join(10)
    return out[WARMUP:]


# -- 2. initial sync --------------------------------------------------------------------------
def seed(directory: Path, rows: int) -> None:
    """A server data directory whose app already holds ``rows`` todos."""
    import pyarrow as pa

    from jazz_nb.store import layout
    from jazz_nb.store.versions import new_batch_id
    from jazz_nb.sync.server_app import AppState
    from jazz_nb.writes.columnar import uuid7_array

    app = bench_app()
    state = AppState(APP_ID, directory / APP_ID)
    state.publish_schema(app.to_json())
    state.publish_permissions(app.schema_hash, allow_all(app).to_json(), None)
    assert state.store is not None
    chunk = 250_000
    for start in range(0, rows, chunk):
        n = min(chunk, rows - start)
        user = pa.table({"title": [f"todo {start + i}" for i in range(n)],
                         "done": pa.array([i % 3 == 0 for i in range(n)]),
                         "priority": pa.array([i % 5 for i in range(n)], pa.int32()),
                         "sent": pa.array([0.0] * n)})
        state.store.insert_rows("todos", uuid7_array(n), user, batch_id=new_batch_id(),
                                author="bench", first_updated_at=1 + start)
    for table in (layout.history_table("todos", app.schema_hash),
                  layout.visible_table("todos", app.schema_hash)):
        state.store.execute(f"UPDATE {layout.quote(table)} SET _jz_tier = 2")
    state.store.close()


def initial_sync(url: str, rows: int, naive: bool) -> float:
    """Seconds from connect to a live frame holding every row."""
    import jazz_nb.sync.bulk as bulk

    app = bench_app()
    saved = bulk.BULK_MIN_ROWS
    bulk.BULK_MIN_ROWS = 1 << 62 if naive else saved
    try:
        start = time.perf_counter()
        db = connect(app, app_id=APP_ID, server_url=url, secret=generate_secret())
        live = db.live(app.todos)
        live.wait_for(lambda lq: len(lq) == rows, timeout=600)
        frame = live.df  # the DataFrame too: "store + live frame"
        took = time.perf_counter() - start
        assert len(frame) == rows
        db.close()
        return took
    finally:
        bulk.BULK_MIN_ROWS = saved


# -- 3. fan-out -------------------------------------------------------------------------------
def _fan_clients(url: str, app_id: str, count: int, expected: int, out: Any,
                 ready: Any) -> None:
    app = bench_app()
    dbs = [connect(app, app_id=app_id, server_url=url, secret=generate_secret())
           for _ in range(count)]
    wake = threading.Event()
    delays: list[float] = []
    lives = []
    for db in dbs:
        db.store.add_listener(lambda changes: wake.set())
        live = db.live(app.todos)

        def on_change(lq: Any, delta: Any) -> None:
            now = time.perf_counter()
            if delta.added:
                sent = lq.arrow.column("sent").take(pa.array(delta.added_index, pa.int64()))
                delays.extend(now - t for t in sent.to_pylist())

        live.on_change(on_change)
        db.settle(app.todos, "global")
        lives.append(live)
    ready.put(count)
    deadline = time.monotonic() + 600
    while any(len(lq) < expected for lq in lives) and time.monotonic() < deadline:
        wake.wait(0.05)
        wake.clear()
        for db in dbs:
            db.flush()
    out.put((delays, [len(lq) for lq in lives]))
    for db in dbs:
        db.close()


def _fan_writer(url: str, app_id: str, rate: int, batch: int, seconds: float,
                done: Any) -> None:
    app = bench_app()
    db = connect(app, app_id=app_id, server_url=url, secret=generate_secret())
    every = batch / rate
    start = time.perf_counter()
    handles = []
    for k in range(int(seconds * rate / batch)):
        due = start + k * every
        while (now := time.perf_counter()) < due:
            time.sleep(min(due - now, 0.002))
        handles.append(db.insert_many(app.todos, [
            {"title": f"w{k}-{i}", "sent": time.perf_counter()} for i in range(batch)]))
    for handle in handles:
        handle.wait("global", timeout=120)
    done.put(time.perf_counter() - start)
    db.close()


def fanout(url: str, clients: int, procs: int, rate: int, batch: int,
           seconds: float) -> tuple[list[float], bool, float]:
    """Delivery delays (s) over every client, whether every row reached every client, and the
    achieved write rate."""
    app = bench_app()
    app_id = f"{APP_ID}-fanout"
    deploy(url, app_id, admin_secret=ADMIN, app=app, permissions=allow_all(app))
    ctx = mp.get_context("spawn")
    out, ready, done = ctx.Queue(), ctx.Queue(), ctx.Queue()
    expected = int(seconds * rate / batch) * batch
    shares = [clients // procs + (1 if i < clients % procs else 0) for i in range(procs)]
    workers = [ctx.Process(target=_fan_clients, args=(url, app_id, n, expected, out, ready))
               for n in shares]
    for worker in workers:
        worker.start()
    assert sum(ready.get(timeout=300) for _ in workers) == clients
    writer = ctx.Process(target=_fan_writer, args=(url, app_id, rate, batch, seconds, done))
    writer.start()
    took = done.get(timeout=600)
    delays: list[float] = []
    complete = True
    for _ in workers:
        got, sizes = out.get(timeout=600)
        delays += got
        complete = complete and all(size == expected for size in sizes)
    for process in (*workers, writer):
        process.join(60)
    return delays, complete and len(delays) == expected * clients, expected / took



def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes for CI smoke runs")
    parser.add_argument("--rows", type=int, default=None)
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--procs", type=int, default=2)
    parser.add_argument("--rate", type=int, default=1000)
    parser.add_argument("--batch", type=int, default=25)
    parser.add_argument("--seconds", type=float, default=None)
    args = parser.parse_args(argv)
    rows = args.rows or (100_000 if args.quick else 1_000_000)
    seconds = args.seconds or (5.0 if args.quick else 30.0)
    samples = 60 if args.quick else args.samples
    with tempfile.TemporaryDirectory() as tmp:
        seed(Path(tmp), rows)
        with start_local_server(port=0, data_dir=tmp, admin_secret=ADMIN) as server:
            floor = relay_floor(samples)
            live = latency(server.url, samples, naive=False)
            polled = latency(server.url, max(samples // 4, 10), naive=True)
            synced = initial_sync(server.url, rows, naive=False)
            generic = initial_sync(server.url, rows, naive=True)
            delays, complete, achieved = fanout(server.url, args.clients, args.procs,
                                                args.rate, args.batch, seconds)
    p50, p99 = statistics.median(live), _pct(live, 0.99)
    n50, n99 = statistics.median(polled), _pct(polled, 0.99)
    r50, r99 = statistics.median(floor), _pct(floor, 0.99)
    f50, f99 = statistics.median(delays), _pct(delays, 0.99)
    print_table(f"sync on loopback ({rows:,} rows; {args.clients} clients, {args.rate} writes/s "
                f"for {seconds:.0f} s)", [
        ("write -> other client's live frame, p50", _ms(p50), _ms(n50), f"{n50 / p50:.1f}x",
         "<= 10 ms", _ok(p50 <= 0.010)),
        ("write -> other client's live frame, p99", _ms(p99), _ms(n99), f"{n99 / p99:.1f}x",
         "<= 50 ms", _ok(p99 <= 0.050)),
        ("  p50 vs the relay floor (A -> bare relay -> B)", _ms(p50), _ms(r50),
         f"{p50 / r50:.1f}x the floor", "<= 3x the floor", _ok(p50 <= 3 * r50)),
        ("  p99 vs the relay floor", _ms(p99), _ms(r99), f"{p99 / r99:.1f}x the floor",
         "<= 5x the floor", _ok(p99 <= 5 * r99)),
        (f"initial sync of {rows:,} rows (store + frame)", f"{synced:.2f} s",
         f"{generic:.2f} s", f"{generic / synced:.1f}x", "<= 5 s", _ok(synced <= 5.0)),
        ("fan-out delivery p50", _ms(f50), "~50 ms + re-query", "", "", ""),
        ("fan-out delivery p99", _ms(f99), ">= 100 ms", "", "<= 100 ms", _ok(f99 <= 0.100)),
        ("fan-out: every row reached every client", "yes" if complete else "NO", "", "",
         "nothing lost", _ok(complete)),
        ("fan-out: writes/s achieved", f"{achieved:.0f}", "", "", f"{args.rate}",
         _ok(achieved >= 0.95 * args.rate)),
    ])


if __name__ == "__main__":
    main()
