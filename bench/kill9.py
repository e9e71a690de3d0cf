"""``kill -9`` of a real server under load: no acknowledged write may be lost.

    python -m bench.kill9                # 100 rounds (also: python -m bench.faults --kill)
    python -m bench.kill9 --rounds 5     # CI size

A real ``jazz-nb server`` process keeps its data on disk. Writer processes (``--writers``, each
a ``jz.connect`` db on a DuckDB file, so its outbox survives) write without pause: bursts of
inserts and updates of their own rows, each waited on for the global tier; a write whose
``wait("global")`` returned is acknowledged and reported to the driver (batch id and row id),
one whose wait timed out is reported once its handle reaches the global tier later (the outbox
replays it). Each round the driver lets the server take writes for a random moment, kills it
with SIGKILL, starts a new server on the same data directory and port (the writers reconnect by
themselves), and reads the new server's rows with a fresh backend client: every version
acknowledged so far must be there.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import queue
import random
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.report import print_table
from jazz_nb import s
from jazz_nb.auth.identity import generate_secret
from jazz_nb.errors import WriteRejected
from jazz_nb.store import layout
from jazz_nb.sync import connect, deploy, start_local_server
from jazz_nb.sync.connect import allow_all
from jazz_nb.sync.process import LocalServer

APP_ID = "bench-kill9"
ADMIN, BACKEND = "bench-admin", "bench-backend"


def kill_app() -> s.App:
    """The app the writers write to.

    Example:
        >>> sorted(kill_app().tables)
        ['todos']
    """
    return s.define_app({"todos": s.table(title=s.string(), n=s.int())})


@dataclass
class KillResult:
    """What the rounds found."""

    rounds: int = 0
    acknowledged: int = 0  # versions acknowledged, over every round
    lost: list[str] = field(default_factory=list)  # "round r: batch/row" missing
    rejected: list[str] = field(default_factory=list)  # batches the server refused
    stalled: str | None = None  # no write was acknowledged after a restart
    acked_before_kill: list[int] = field(default_factory=list)  # per round, cumulative
    restart_seconds: list[float] = field(default_factory=list)  # kill -> new server listening
    first_ack_seconds: list[float] = field(default_factory=list)  # listening -> a new ack
    seconds: float = 0.0


def _writer(url: str, path: str, seed: int, acks: Any, stop: Any) -> None:
    """Write bursts without pause; report each acknowledged (batch id, row id)."""
    app = kill_app()
    rng = random.Random(seed)
    db = connect(app, app_id=APP_ID, server_url=url, secret=generate_secret(), path=path)
    mine: list[str] = []
    waiting: list[tuple[Any, str]] = []  # (handle, row id) whose wait timed out
    n = 0
    while not stop.is_set():
        burst = []
        for _ in range(rng.randint(1, 5)):
            n += 1
            if mine and rng.random() < 0.3:
                row_id = rng.choice(mine)
                burst.append((db.update(app.todos, row_id, {"n": n}), row_id))
            else:
                row = db.insert(app.todos, {"title": f"w{seed}-{n}", "n": n})
                mine.append(row.id)
                burst.append((row.handle, row.id))
        for handle, row_id in burst:
            try:
                handle.wait("global", timeout=0.5)
                acks.put((handle.batch_id, row_id))
            except TimeoutError:
                waiting.append((handle, row_id))
            except WriteRejected:  # not acknowledged: nothing to keep (the driver reports it)
                acks.put(("rejected", handle.batch_id))
        for handle, row_id in [w for w in waiting if w[0].tier == "global"]:
            acks.put((handle.batch_id, row_id))
            waiting.remove((handle, row_id))
    db.close()


def server_versions(url: str, app: s.App) -> set[tuple[str, str]]:
    """Every (batch id, row id) the server at ``url`` holds, read by a fresh backend client.

    Example:
        >>> with start_local_server(port=0, admin_secret=ADMIN, backend_secret=BACKEND) as srv:
        ...     _ = deploy(srv.url, APP_ID, admin_secret=ADMIN, app=kill_app(),
        ...                permissions=allow_all(kill_app()))
        ...     server_versions(srv.url, kill_app())
        set()
    """
    db = connect(app, app_id=APP_ID, server_url=url, backend_secret=BACKEND)
    try:
        db.settle(app.todos, "global", timeout=60)
        history = layout.quote(layout.history_table("todos", app.schema_hash))
        with db.store.lock:  # the sync thread may still be storing deliveries
            return {(b, r) for b, r in db.store.execute(
                f"SELECT replace(CAST(_jz_batch_id AS VARCHAR), '-', ''), CAST(_jz_row_id AS "
                f"VARCHAR) FROM {history}").fetchall()}
    finally:
        db.close()


def _drain(acks: Any, into: set[tuple[str, str]], rejected: list[str]) -> int:
    before = len(into)
    while True:
        try:
            _take(acks.get_nowait(), into, rejected)
        except queue.Empty:
            return len(into) - before


def _take(item: tuple[str, str], into: set[tuple[str, str]], rejected: list[str]) -> None:
    if item[0] == "rejected":
        rejected.append(item[1])
    else:
        into.add(item)


def kill_rounds(rounds: int, writers: int = 2, seed: int = 1,
                load_seconds: tuple[float, float] = (0.3, 1.2)) -> KillResult:
    """Run the rounds (see the module docstring).

    Example:
        >>> kill_rounds(1, writers=1).lost
        []
    """
    app = kill_app()
    rng = random.Random(seed)
    result = KillResult()
    ctx = mp.get_context("spawn")
    acks, stop = ctx.Queue(), ctx.Event()
    acked: set[tuple[str, str]] = set()
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "server"
        server: LocalServer = start_local_server(port=0, data_dir=data, admin_secret=ADMIN,
                                                 backend_secret=BACKEND)
        procs = []
        try:
            deploy(server.url, APP_ID, admin_secret=ADMIN, app=app, permissions=allow_all(app))
            procs = [ctx.Process(target=_writer, args=(server.url, str(Path(tmp) / f"w{i}.db"),
                                                       seed * 100 + i, acks, stop))
                     for i in range(writers)]
            for proc in procs:
                proc.start()
            for r in range(rounds):
                listening = time.perf_counter()
                try:  # the new server takes writes, then dies
                    _take(acks.get(timeout=120), acked, result.rejected)
                except queue.Empty:
                    result.stalled = f"round {r}: no write acknowledged within 120 s"
                    break
                result.first_ack_seconds.append(time.perf_counter() - listening)
                time.sleep(rng.uniform(*load_seconds))
                server.kill()
                killed = time.perf_counter()
                _drain(acks, acked, result.rejected)
                result.acked_before_kill.append(len(acked))
                before = set(acked)
                server = start_local_server(port=server.port, data_dir=data, admin_secret=ADMIN,
                                            backend_secret=BACKEND)
                result.restart_seconds.append(time.perf_counter() - killed)
                held = server_versions(server.url, app)
                result.lost += [f"round {r}: batch {b} row {row}" for b, row in before - held]
                result.rounds += 1
        finally:
            stop.set()
            for proc in procs:
                proc.join(60)
                if proc.is_alive():
                    proc.kill()
            _drain(acks, acked, result.rejected)
            server.stop()
    result.acknowledged = len(acked)
    result.seconds = time.perf_counter() - start
    return result


def _median(values: list[float]) -> str:
    return f"{sorted(values)[len(values) // 2]:.2f} s" if values else "-"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=100)
    parser.add_argument("--writers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    result = kill_rounds(args.rounds, args.writers, args.seed)
    rows = [
        ("rounds (SIGKILL, restart on the same data)", result.rounds, f"{args.rounds}",
         "yes" if result.rounds == args.rounds else "NO"),
        ("acknowledged writes (versions)", f"{result.acknowledged:,}", "", ""),
        ("acknowledged writes lost", len(result.lost), "0", "yes" if not result.lost else "NO"),
        ("writes rejected / rounds stalled", f"{len(result.rejected)} / "
         f"{int(result.stalled is not None)}", "0 / 0",
         "yes" if not (result.rejected or result.stalled) else "NO"),
        ("kill -> new server listening, median", _median(result.restart_seconds), "", ""),
        ("new server listening -> first ack, median", _median(result.first_ack_seconds), "",
         ""),
        ("round length, mean", f"{result.seconds / max(result.rounds, 1):.2f} s", "~2 s", ""),
    ]
    print_table(f"kill -9 under load: {args.writers} writer processes, {result.rounds} rounds",
                rows, header=("measure", "jazz_nb", "target", "ok"))
    for line in result.lost[:10]:
        print(f"  lost: {line}")
    if result.stalled:
        print(f"  stalled: {result.stalled}")


if __name__ == "__main__":
    main()
