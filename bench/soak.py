"""Soak: many clients with live queries under a steady write rate; memory over time, nothing lost.

    python -m bench.soak                  # 50 clients in 2 processes, 30 minutes, 5 writes/s
    python -m bench.soak --minutes 2 --warmup-minutes 1   # a short look (not in CI)

A real ``jazz-nb server`` process (data on disk) on 127.0.0.1; ``--clients`` clients spread over
``--procs`` processes, each client with a live query on the whole table; one writer process
inserting ``--rows`` rows, then writing ``--rate`` writes a second (one in five an insert, the
rest updates of random rows) for ``--warmup-minutes`` and then ``--minutes`` more. Every
``--sample-seconds`` the resident memory (``VmRSS`` of ``/proc/<pid>/status``) of the server, the
client processes and the writer is sampled. Growth is measured over the ``--minutes`` after the
warm-up (medians of three samples at each end). At the end every client must hold every batch
the writer wrote (distinct batch ids in its store's history) and show the writer's rows in its
live frame.

Growth is measured after a warm-up (default 10 minutes) because what a version costs in resident
memory falls as a new DuckDB store fills the blocks and index buffers it allocated (on in-memory
stores taking the soak's writes in one process: ~8.4 KiB a version over a store's first 1,500
versions, ~0.9 KiB over the next 1,500); the table also shows the growth from minute 3, first
fill included. Every version is kept (row histories): on the soak itself the clients still grew
~0.6 KiB per version per store after the warm-up. The table splits the growth into DuckDB's own
count (``duckdb_memory()``: the blocks it allocated, not the pages filled in them), the Arrow
memory pool (the live frames' columns) and Python objects.
"""

from __future__ import annotations

import argparse
import gc
import multiprocessing as mp
import queue
import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import pyarrow as pa

from bench.report import print_table
from jazz_nb import s
from jazz_nb.auth.identity import generate_secret
from jazz_nb.store import layout
from jazz_nb.sync import connect, deploy, start_local_server
from jazz_nb.sync.connect import allow_all

APP_ID = "bench-soak"
ADMIN = "bench-admin"


def soak_app() -> s.App:
    """The app of the soak.

    Example:
        >>> sorted(soak_app().tables)
        ['todos']
    """
    return s.define_app({"todos": s.table(title=s.string(), done=s.boolean(default=False),
                                          priority=s.int().optional())})


def rss_kib(pid: int) -> int:
    """Resident memory of a process in KiB (``VmRSS``), 0 once it is gone.

    Example:
        >>> import os
        >>> rss_kib(os.getpid()) > 0
        True
    """
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def batches_in(db: Any, app: s.App) -> int:
    """Distinct batches in a db's history of ``todos``.

    Example:
        >>> import jazz_nb as jz
        >>> db = jz.create_db(soak_app(), app_id="soak-doc")
        >>> _ = db.insert(db.app.todos, {"title": "x"})
        >>> batches_in(db, db.app)
        1
        >>> db.close()
    """
    history = layout.quote(layout.history_table("todos", app.schema_hash))
    sql = f"SELECT count(DISTINCT _jz_batch_id) FROM {history}"
    with db.store.lock:  # the sync thread writes through the same connection
        return int(db.store.execute(sql).fetchall()[0][0])


def duckdb_bytes(db: Any) -> int:
    """Memory DuckDB accounts for in a db's store (``duckdb_memory()``: allocated blocks).

    Example:
        >>> import jazz_nb as jz
        >>> db = jz.create_db(soak_app(), app_id="soak-doc")
        >>> duckdb_bytes(db) >= 0
        True
        >>> db.close()
    """
    with db.store.lock:
        return int(db.store.execute("SELECT coalesce(sum(memory_usage_bytes), 0) FROM "
                                    "duckdb_memory()").fetchall()[0][0])


def _clients(url: str, count: int, ready: Any, warm: Any, finish: Any, expected: Any,
             out: Any) -> None:
    """A process of ``count`` clients, each with a live query; at ``finish`` it waits (bounded)
    until every client holds ``expected`` batches and reports how many do, with the memory
    its stores account for at the end of the warm-up and at the end."""
    app = soak_app()
    dbs = [connect(app, app_id=APP_ID, server_url=url, secret=generate_secret())
           for _ in range(count)]
    lives = [db.live(app.todos) for db in dbs]
    ready.put(count)
    warm_bytes, warm_objects, warm_arrow = 0, 0, 0
    while not finish.wait(0.2):  # keep the live frames current, as a notebook between cells
        for db in dbs:
            db.flush()
        if warm.is_set() and not warm_bytes:
            warm_bytes, warm_objects = sum(map(duckdb_bytes, dbs)), len(gc.get_objects())
            warm_arrow = pa.total_allocated_bytes()
    end_bytes, end_objects = sum(map(duckdb_bytes, dbs)), len(gc.get_objects())
    end_arrow = pa.total_allocated_bytes()
    wanted, visible = expected.get()
    deadline = time.monotonic() + 300
    done = [False] * count
    while not all(done) and time.monotonic() < deadline:
        for i, (db, live) in enumerate(zip(dbs, lives, strict=True)):
            if not done[i]:
                db.flush()
                done[i] = batches_in(db, app) == wanted and len(live) == visible
        if not all(done):
            finish.wait(0.2)
    out.put((sum(done), max(batches_in(db, app) for db in dbs), warm_bytes, end_bytes,
             warm_objects, end_objects, warm_arrow, end_arrow))
    for db in dbs:
        db.close()


def _writer(url: str, rows: int, rate: float, seconds: float, seed: int, out: Any) -> None:
    """Insert ``rows`` rows, then write ``rate`` times a second for ``seconds``; report the
    number of batches written and of visible rows once every write is confirmed."""
    app = soak_app()
    rng = random.Random(seed)
    db = connect(app, app_id=APP_ID, server_url=url, secret=generate_secret())
    seeded = [db.insert(app.todos, {"title": f"seed {i}", "priority": i}) for i in range(rows)]
    ids, handles = [r.id for r in seeded], [r.handle for r in seeded]
    start = time.perf_counter()
    for k in range(int(seconds * rate)):
        due = start + k / rate
        while (now := time.perf_counter()) < due:
            time.sleep(min(due - now, 0.01))
        if not ids or rng.random() < 0.2:
            row = db.insert(app.todos, {"title": f"w{k}", "priority": rng.randrange(100)})
            ids.append(row.id)
            handles.append(row.handle)
        else:
            handles.append(db.update(app.todos, rng.choice(ids),
                                     {"title": f"u{k}", "done": rng.random() < 0.5}))
        if len(handles) > 2000:  # keep memory flat: confirmed handles are dropped
            for handle in handles[:1000]:
                handle.wait("global", timeout=120)
            del handles[:1000]
    for handle in handles:
        handle.wait("global", timeout=300)
    out.put((batches_in(db, app), len(db.all(app.todos))))
    db.close()


def _growth(samples: list[tuple[float, int]], warm: float) -> tuple[int, int, float]:
    """(KiB after warm-up, KiB at the end, growth %) from ``(t, KiB)`` samples."""
    after = [kib for t, kib in samples if t >= warm]
    if len(after) < 2:
        return 0, 0, float("nan")
    first = int(statistics.median(after[:3]))
    last = int(statistics.median(after[-3:]))
    return first, last, 100.0 * (last - first) / first if first else float("nan")


def soak(minutes: float, clients: int, procs: int, rate: float, rows: int,
         sample_seconds: float, warmup_minutes: float, seed: int) -> list[tuple[object, ...]]:
    """Run the soak; returns the table rows.

    Example:
        >>> rows = soak(0.1, clients=2, procs=1, rate=5, rows=5, sample_seconds=1,
        ...             warmup_minutes=0.02, seed=1)
        >>> rows[-1][:2]
        ('clients holding every write', '2 / 2')
    """
    app = soak_app()
    ctx = mp.get_context("spawn")
    ready, out, result = ctx.Queue(), ctx.Queue(), ctx.Queue()
    warm_up, finish = ctx.Event(), ctx.Event()
    expected = ctx.Queue()
    with tempfile.TemporaryDirectory() as tmp, \
            start_local_server(port=0, data_dir=tmp, admin_secret=ADMIN) as server:
        deploy(server.url, APP_ID, admin_secret=ADMIN, app=app, permissions=allow_all(app))
        shares = [clients // procs + (1 if i < clients % procs else 0) for i in range(procs)]
        workers = [ctx.Process(target=_clients, args=(server.url, n, ready, warm_up, finish,
                                                      expected, out)) for n in shares]
        for worker in workers:
            worker.start()
        assert sum(ready.get(timeout=600) for _ in workers) == clients
        seconds = (warmup_minutes + minutes) * 60
        writer = ctx.Process(target=_writer, args=(server.url, rows, rate, seconds, seed,
                                                   result))
        start = time.monotonic()
        writer.start()
        samples: dict[str, list[tuple[float, int]]] = {"server": [], "clients": [],
                                                       "writer": []}
        while writer.is_alive() and time.monotonic() - start < seconds + 600:
            t = time.monotonic() - start
            samples["server"].append((t, rss_kib(server.pid)))
            samples["clients"].append((t, sum(rss_kib(w.pid) for w in workers)))
            samples["writer"].append((t, rss_kib(writer.pid)))
            if t >= warmup_minutes * 60:
                warm_up.set()
            writer.join(sample_seconds)
        if writer.exitcode not in (0, None):
            raise RuntimeError(f"the writer process failed (exit code {writer.exitcode})")
        wanted, visible = result.get(timeout=600)
        finish.set()
        for _ in workers:
            expected.put((wanted, visible))
        reached = []
        for _ in workers:
            try:
                reached.append(out.get(timeout=900))
            except queue.Empty:  # a client process died: it reached nothing
                reached.append((0, 0, 0, 0, 0, 0, 0, 0))
        for process in (*workers, writer):
            process.join(60)
    complete = sum(r[0] for r in reached)
    data_growth = sum(r[3] - r[2] for r in reached) / 1024
    warm = warmup_minutes * 60
    table: list[tuple[object, ...]] = []
    for name, series in samples.items():
        first, last, pct = _growth(series, warm)
        what = f"sum of {procs} processes" if name == "clients" else "1 process"
        table.append((f"RSS {name} ({what})",
                      f"{first / 1024:.0f} -> {last / 1024:.0f} MiB", f"{pct:+.1f} %",
                      "< 10 %", "yes" if pct < 10 else "NO"))
        if name == "clients" and first:  # blocks allocated, not the pages filled in them
            early = _growth(series, min(warm, 180.0))
            table.append(("— from minute 3, DuckDB's first fill included",
                          f"{early[0] / 1024:.0f} -> {early[1] / 1024:.0f} MiB",
                          f"{early[2]:+.1f} %", "", ""))
            table.append(("— DuckDB's allocated blocks in the stores (duckdb_memory())",
                          f"{data_growth / 1024:+.0f} MiB", "", "", ""))
            arrow_growth = sum(r[7] - r[6] for r in reached) / 2**20
            table.append(("— Arrow memory pool (live frames' columns)",
                          f"{arrow_growth:+.0f} MiB", "", "", ""))
            objects = (sum(r[4] for r in reached), sum(r[5] for r in reached))
            table.append(("— Python objects (gc) in the client processes",
                          f"{objects[0]:,} -> {objects[1]:,}",
                          f"{100.0 * (objects[1] - objects[0]) / max(objects[0], 1):+.1f} %",
                          "", ""))
    table.append(("batches written / in each client's history", f"{wanted:,}",
                  f"{max(r[1] for r in reached):,} (max)", "all", "yes" if complete == clients
                  else "NO"))
    table.append(("clients holding every write", f"{complete} / {clients}", "", "all",
                  "yes" if complete == clients else "NO"))
    return table


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--procs", type=int, default=2)
    parser.add_argument("--rate", type=float, default=5.0, help="writes per second")
    parser.add_argument("--rows", type=int, default=200, help="rows inserted before the run")
    parser.add_argument("--sample-seconds", type=float, default=5.0)
    parser.add_argument("--warmup-minutes", type=float, default=10.0,
                        help="writes before growth is measured (DuckDB's first fill)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    warm = args.warmup_minutes
    rows = soak(args.minutes, args.clients, args.procs, args.rate, args.rows,
                args.sample_seconds, warm, args.seed)
    print_table(f"soak: {args.clients} clients in {args.procs} processes with live queries, "
                f"{args.rate:g} writes/s, growth over {args.minutes:g} min after a {warm:g}-min "
                "warm-up", rows, header=("measure", "jazz_nb", "growth / seen", "target", "ok"))


if __name__ == "__main__":
    main()
