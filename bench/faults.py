"""Convergence under faults: random schedules of writes, partitions, reorders, duplicates and
restarts over the real engine and stores (``bench.faultsim``), then heal and check.

    python -m bench.faults                     # 10,000 schedules, half of them creator-only
    python -m bench.faults --quick             # 200 schedules (CI size)
    python -m bench.faults --schedules N --seed S --workers W
    python -m bench.faults --replay SEED       # one schedule, every event printed
    python -m bench.faults --kill [--rounds N] # kill -9 of a real server under load (bench.kill9)

A schedule (seed ``S``: even seeds run the open policy, odd ones the creator-only one) is three
clients (DuckDB files, each with a clock skew of up to 50 ms) and a server (a DuckDB file) and a
few dozen random events: local writes (inserts, updates of random columns, deletes, batches,
transactions, project edits that the creator-only policy rejects), sends, the server reading
some of a connection's messages, engine turns (everything queued, in one ``process``: batches
of several connections meet in one run), clients reading some messages, confirmation bursts;
faults: a dropped connection (some messages in flight get through each way, the rest is lost;
the client reconnects later, resubscribes and replays), a batch sent twice, a subscription sent
twice, a rows frame delivered again, a live query closed and reopened, a client restart (clean,
or killed: its unrecorded confirmations and unapplied rows are lost) and a server restart
(queue and connections lost, store reopened from its file). Then every connection is healed and
drained, and the run checks:

* divergence: each client's visible rows (user and engine columns, frontier) differ from the
  server's visible rows (everyone may read everything in both policies);
* lost acknowledged writes: a version of a batch some client saw accepted is missing on the
  server, or on a client that has the row in scope (not deleted on the server);
* leaked rejections: a version of a batch seen rejected is stored on the server or another
  client, or is not marked ``Rejected`` on its author;
* fate conflicts (a batch seen both accepted and rejected) and unresolved writes (no fate
  after healing).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import multiprocessing as mp
import random
import shutil
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.faultsim import APP, APP_ID, Ledger, SimClient, SimServer
from bench.report import print_table
from jazz_nb.db import Db
from jazz_nb.engine import Engine
from jazz_nb.store import layout
from jazz_nb.store.store import Store

KINDS = ("insert", "update", "delete", "batch", "transaction", "project")
KIND_WEIGHTS = (30, 30, 10, 10, 8, 12)
SHM = Path("/dev/shm")
MISSED_DELETE = "missed delete"


@dataclass
class Outcome:
    """What one schedule found."""

    seed: int
    events: int = 0
    writes: int = 0
    accepted: int = 0
    rejected: int = 0
    divergences: list[str] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)
    leaked: list[str] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)
    crash: str | None = None
    trace: list[str] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        """Whether anything at all went wrong."""
        return bool(self.divergences or self.lost or self.leaked or self.conflicts
                    or self.crash)


def mode_of(seed: int) -> str:
    """The policy a seed runs under.

    Example:
        >>> mode_of(4), mode_of(7)
        ('open', 'creator')
    """
    return "open" if seed % 2 == 0 else "creator"


class Pool:
    """The DuckDB files a worker reuses from schedule to schedule: a server per policy and
    the three client stores, open (emptied before each use: opening costs more than a short
    schedule's writes). A schedule that crashed closes the pool: the next starts afresh.

    Example:
        >>> with Pool() as pool:
        ...     pool.server("open", 2048).max_frame_bytes
        2048
    """

    def __init__(self, parent: Path | None = None) -> None:
        self.parent = parent
        self.root = Path(tempfile.mkdtemp(prefix="jz-faults-", dir=parent or _scratch()))
        self.servers: dict[str, SimServer] = {}
        self.stores: dict[str, Store] = {}

    def server(self, mode: str, max_frame_bytes: int) -> SimServer:
        """The policy's server, emptied."""
        server = self.servers.get(mode)
        if server is None:
            server = self.servers[mode] = SimServer(self.root / f"server-{mode}", mode,
                                                    max_frame_bytes)
        else:
            server.reset(max_frame_bytes)
        return server

    def close(self) -> None:
        """Close every store and remove the files."""
        for server in self.servers.values():
            server.close()
        for store in self.stores.values():
            store.close()
        self.servers, self.stores = {}, {}
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> Pool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class World:
    """One schedule: a server, three clients and a seeded random sequence of events."""

    def __init__(self, pool: Pool, seed: int, events: int | None = None,
                 resend: bool = True) -> None:
        self.pool = pool
        self.resend = resend  # duplicate batches on one connection (a real client does not)
        self.rng = random.Random(seed)
        self.trace: list[str] = []
        self.ledger = Ledger()
        frame = self.rng.choice([32 << 20, 2048])  # small frames: batches and fills in parts
        self.server = pool.server(mode_of(seed), frame)
        self.clients = [SimClient(name, pool.root / f"{name}.duckdb", self.server, self.ledger,
                                  skew_us=self.rng.randint(-50, 50) * 1000,
                                  store=pool.stores.pop(name, None))
                        for name in ("alice", "bob", "carol")]
        for client in self.clients:
            client.connect()
            client.write(self.rng, "insert")
        self.clients[0].write(self.rng, "project")
        self.trace.append("start: a todo each, a project")
        self.heal()  # shared rows from the start: concurrent edits, rejections of others' rows
        self.events = events if events is not None else self.rng.randint(12, 28)

    def run(self) -> None:
        """Every event of the schedule, then heal."""
        for _ in range(self.events):
            weights, names, actions = zip(*self._enabled(), strict=True)
            i = self.rng.choices(range(len(actions)), weights)[0]
            self.trace.append(names[i])
            actions[i]()
        self.heal()

    def _enabled(self) -> Iterator[tuple[float, str, Callable[[], None]]]:
        rng, server = self.rng, self.server
        for c in self.clients:
            kind = rng.choices(KINDS, KIND_WEIGHTS)[0]
            yield 20, f"{c.name} writes ({kind})", lambda c=c, kind=kind: c.write(rng, kind)
            yield 1, f"{c.name} restarts", lambda c=c: self._restart(c)
            if c.confirmed:
                yield 4, f"{c.name} records confirmations", c.mark_confirmed
            if c.upstreams:
                sub = rng.choice(list(c.upstreams))
                yield 1.5, f"{c.name} reopens query {sub}", lambda c=c, sub=sub: c.reopen(sub)
            link = c.link
            if link is None:
                yield 6, f"{c.name} reconnects", c.connect
                continue
            if c.unsent():
                yield 12, f"{c.name} sends", c.send
            if link.up:
                n = rng.randint(1, len(link.up))
                yield 12, f"server reads {n} of {c.name}", lambda link=link, n=n: \
                    server.receive(link, n)
            if link.down:
                n = rng.randint(1, len(link.down))
                yield 15, f"{c.name} reads {n}", lambda c=c, n=n: c.read(n)
            down = rng.randint(0, len(link.down))
            yield 3, f"{c.name} drops its connection ({down} down got through)", \
                lambda c=c, down=down: c.drop(down)
            sent = [i.batch_id for i in c.outbox.pending() if i.batch_id in c.sent]
            if sent and self.resend:
                batch = rng.choice(sent)
                yield 2, f"{c.name} sends {batch[-8:]} again", lambda c=c, b=batch: c.resend(b)
            if c.upstreams:
                sub = rng.choice(list(c.upstreams))
                yield 1.5, f"{c.name} sends subscription {sub} again", \
                    lambda c=c, sub=sub: c.control.append(
                        {"type": "subscribe", "id": sub, "query": c.upstreams[sub]["ir"],
                         "tier": "global"})
            if c.received:
                frame = rng.choice(c.received)
                yield 2, f"{c.name} gets a rows frame again", \
                    lambda link=link, frame=frame: link.down.append(frame)
        for link in server.zombies:
            if link.up:
                n = rng.randint(1, len(link.up))
                yield 6, f"server reads {n} of left {link.id}", lambda link=link, n=n: \
                    server.receive(link, n)
            yield 4, f"server notices {link.id} closed", lambda link=link: server.notice(link)
        if server.engine:
            yield 12, f"engine turn ({len(server.engine)} messages)", server.turn
        yield 1, "server restarts", self._server_restart

    def _restart(self, client: SimClient) -> None:
        client.restart(clean=self.rng.random() < 0.5)

    def _server_restart(self) -> None:
        for c in self.clients:
            if c.link is not None:
                c.cut(self.rng.randint(0, len(c.link.down)))
        self.server.restart()

    def heal(self, rounds: int = 100) -> None:
        """Reconnect everyone and deliver everything until nothing moves (bounded)."""
        self.trace.append("heal")
        for link in list(self.server.zombies):
            self.server.notice(link)
        for _ in range(rounds):
            for c in self.clients:
                if c.link is None:
                    c.connect()
                if c.unsent():
                    c.send()
                assert c.link is not None
                self.server.receive(c.link, len(c.link.up))
            while self.server.engine:
                self.server.turn()
            for c in self.clients:
                assert c.link is not None
                c.read(len(c.link.down))
            if not any(c.unsent() or c.inbox or (c.link and (c.link.up or c.link.down))
                       for c in self.clients) and not self.server.engine:
                break
        for c in self.clients:
            c.mark_confirmed()

    def check(self, seed: int) -> Outcome:
        """Compare every client with the server (see the module docstring)."""
        out = Outcome(seed, self.events, len(self.ledger.writes),
                      len(self.ledger.accepted), len(self.ledger.rejected))
        server_db = Db(APP, Engine(self.server.state.store, APP_ID))
        expected = {t: visible(server_db, t) for t in APP.tables}
        in_scope = {(t, r) for t, rows in expected.items() for r in rows
                    if rows[r]["_jz_deleted"] is None}
        stored = {"server": history(server_db)}
        for c in self.clients:
            stored[c.name] = history(c.db)
            for table in APP.tables:
                got = visible(c.db, table)
                for row_id in _differing(got, expected[table]):
                    out.divergences.append(f"{_kind(got, expected[table], row_id)}: "
                                           f"{c.name} {table} {row_id[-8:]} (client, server) "
                                           f"{_pair(got, expected[table], row_id)}")
        for batch_id in self.ledger.accepted:
            author, rows = self.ledger.writes[batch_id]
            for table, row_id in rows:
                for name, states in stored.items():
                    if (batch_id, row_id) not in states and (
                            name == "server" or (table, row_id) in in_scope):
                        out.lost.append(f"{batch_id[-8:]} by {author}: {table} {row_id[-8:]} "
                                        f"missing on {name}")
        for batch_id in self.ledger.rejected:
            author, rows = self.ledger.writes[batch_id]
            for _, row_id in rows:
                for name, states in stored.items():
                    state = states.get((batch_id, row_id))
                    if state is not None and (name != author or state != "Rejected"):
                        out.leaked.append(f"{batch_id[-8:]} by {author}: {row_id[-8:]} is "
                                          f"{state} on {name}")
        for batch_id, kinds in self.ledger.fates.items():
            if len(kinds) > 1:
                out.conflicts.append(f"{batch_id[-8:]} by {self.ledger.writes[batch_id][0]}: "
                                     f"fates {sorted(kinds)}")
        for batch_id, (author, _) in self.ledger.writes.items():
            if batch_id not in self.ledger.fates:
                out.conflicts.append(f"{batch_id[-8:]} by {author}: no fate after healing")
        out.conflicts += [f"server error: {e}" for e in self.server.errors]
        return out

    def retire(self) -> None:
        """Hand the open stores back to the pool."""
        for c in self.clients:
            self.pool.stores[c.name] = c.retire()


def visible(db: Db, table: str) -> dict[str, dict[str, Any]]:
    """A store's visible rows of ``table`` by id: user, magic and engine columns, the
    frontier as a sorted list (the confirmed tier left out: clients learn it later).

    Example:
        >>> import jazz_nb as jz
        >>> db = jz.create_db(APP, app_id="faults-doc")
        >>> row = db.insert(APP.todos, {"title": "x"})
        >>> visible(db, "todos")[row.id]["title"], len(history(db))
        ('x', 1)
        >>> db.close()
    """
    name = layout.quote(layout.visible_table(table, APP.schema_hash))
    result = db.store.execute(
        f"SELECT * EXCLUDE (_jz_tier, _jz_frontier), CAST(list_sort(coalesce(_jz_frontier, "
        f"[_jz_batch])) AS VARCHAR[]) AS frontier FROM {name}")
    columns = [d[0] for d in result.description]
    rows = [dict(zip(columns, values, strict=True)) for values in result.fetchall()]
    return {str(r.pop("id")): r for r in rows}


def history(db: Db) -> dict[tuple[str, str], str]:
    """Every stored version of a store: (batch id, row id) -> state (example: ``visible``)."""
    out = {}
    for table in APP.tables:
        name = layout.quote(layout.history_table(table, APP.schema_hash))
        for batch_id, row_id, state in db.store.execute(
                f"SELECT replace(CAST(_jz_batch_id AS VARCHAR), '-', ''), CAST(_jz_row_id AS "
                f"VARCHAR), _jz_state FROM {name}").fetchall():
            out[(batch_id, row_id)] = state
    return out


def _differing(got: dict[str, Any], want: dict[str, Any]) -> list[str]:
    """Rows shown (not deleted) on one side only, or shown on both but not alike."""
    shown = {r for r, v in got.items() if v["_jz_deleted"] is None}
    wanted = {r for r, v in want.items() if v["_jz_deleted"] is None}
    return sorted((shown ^ wanted) | {r for r in shown & wanted if got[r] != want[r]})


def _kind(got: dict[str, Any], want: dict[str, Any], row_id: str) -> str:
    """``missed delete``: the client shows a row the server has deleted; else ``differs``."""
    if row_id in want and want[row_id]["_jz_deleted"] and row_id in got and \
            got[row_id]["_jz_deleted"] is None:
        return MISSED_DELETE
    return "differs"


def _pair(got: dict[str, Any], want: dict[str, Any], row_id: str) -> dict[str, Any]:
    mine, theirs = got.get(row_id, {}), want.get(row_id, {})
    return {k: (mine.get(k), theirs.get(k)) for k in {*mine, *theirs}
            if mine.get(k) != theirs.get(k)}


def run_schedule(seed: int, pool: Pool | None = None, events: int | None = None,
                 resend: bool = True) -> Outcome:
    """Run one schedule (on ``pool``'s files, else on fresh ones) and check it; the events
    are kept in ``trace``.

    Example:
        >>> outcome = run_schedule(2, events=12)
        >>> outcome.failed, outcome.writes > 4, len(outcome.trace)
        (False, True, 15)
    """
    own = pool is None
    pool = pool if pool is not None else Pool()
    world = None
    try:
        world = World(pool, seed, events, resend)
        world.run()
        outcome = world.check(seed)
        world.retire()
    except Exception:
        outcome = Outcome(seed, crash=traceback.format_exc(limit=8))
        pool.close()  # whatever state the crash left must not reach the next schedule
    if own:
        pool.close()
    if world is not None:
        outcome.trace = world.trace
    return outcome


_POOL: Pool | None = None  # a worker's pool, in the directory of the run (removed after it)


def _run_many(seeds: list[int], parent: Path, resend: bool = True) -> list[Outcome]:
    """A worker's share: schedules on the worker's pool; traces only of failures."""
    global _POOL
    out = []
    for seed in seeds:
        if _POOL is None or not _POOL.servers or _POOL.parent != parent:
            _POOL = Pool(parent)
        outcome = run_schedule(seed, _POOL, resend=resend)
        if not outcome.failed:
            outcome.trace = []
        out.append(outcome)
    return out


def run_all(first: int, count: int, workers: int, resend: bool = True,
            max_minutes: float | None = None) -> tuple[list[Outcome], float]:
    """Schedules ``first .. first + count - 1`` over ``workers`` processes (``resend``:
    with duplicate batches on one connection; ``max_minutes``: stop after that long, with the
    schedules done); returns every outcome and the seconds taken. Progress goes to stderr.

    Example:
        >>> outcomes, seconds = run_all(0, 2, workers=1)
        >>> [o.seed for o in outcomes]
        [0, 1]
    """
    chunks = [list(range(start, min(start + 25, first + count)))
              for start in range(first, first + count, 25)]
    start = time.perf_counter()
    outcomes: list[Outcome] = []
    deadline = start + max_minutes * 60 if max_minutes is not None else float("inf")
    with contextlib.ExitStack() as stack:
        parent = Path(stack.enter_context(tempfile.TemporaryDirectory(
            prefix="jz-faults-run-", dir=_scratch(), ignore_cleanup_errors=True)))
        stack.callback(_close_pool)  # an in-process run's pool, closed before its directory goes
        work = functools.partial(_run_many, parent=parent, resend=resend)
        if workers <= 1:
            results: Iterator[list[Outcome]] = map(work, chunks)
        else:
            pool = stack.enter_context(mp.get_context("spawn").Pool(workers))
            results = pool.imap_unordered(work, chunks)
        for done in results:
            outcomes += done
            if len(outcomes) % 500 < len(done):
                failed = sum(o.failed for o in outcomes)
                print(f"{len(outcomes):,} schedules, {failed} failed, "
                      f"{len(outcomes) / (time.perf_counter() - start):.1f}/s", file=sys.stderr)
            if time.perf_counter() > deadline:
                break
    return outcomes, time.perf_counter() - start


def _scratch() -> Path | None:
    return SHM if SHM.is_dir() else None


def _close_pool() -> None:
    global _POOL
    if _POOL is not None:
        _POOL.close()
        _POOL = None


def report(outcomes: list[Outcome], seconds: float, realistic: bool = False) -> None:
    """Print the table and the first failures.

    Example:
        >>> report([Outcome(0, writes=3, accepted=3)], 1.0)  # doctest: +ELLIPSIS
        <BLANKLINE>
        convergence under faults: 1 random schedules, ...
    """
    rows: list[tuple[object, ...]] = []
    for mode in ("open", "creator"):
        mine = [o for o in outcomes if mode_of(o.seed) == mode]
        writes = sum(o.writes for o in mine)
        accepted, rejected = sum(o.accepted for o in mine), sum(o.rejected for o in mine)
        rows += [
            (f"{mode}: schedules / events / writes", f"{len(mine):,} / "
             f"{sum(o.events for o in mine):,} / {writes:,}", f"{accepted:,} accepted, "
             f"{rejected:,} rejected", "", ""),
            (f"{mode}: schedules diverging", sum(bool(o.divergences) for o in mine),
             f"{sum(_only_missed_deletes(o) for o in mine)} only by missed deletes", "0",
             _ok(not any(o.divergences for o in mine))),
            (f"{mode}: acknowledged writes lost", sum(len(o.lost) for o in mine), "", "0",
             _ok(not any(o.lost for o in mine))),
            (f"{mode}: rejected writes stored somewhere", sum(len(o.leaked) for o in mine), "",
             "0", _ok(not any(o.leaked for o in mine))),
            (f"{mode}: fate conflicts or unresolved / crashes",
             f"{sum(len(o.conflicts) for o in mine)} / {sum(bool(o.crash) for o in mine)}", "",
             "0", _ok(not any(o.conflicts or o.crash for o in mine))),
        ]
    rows.append(("schedules/s", f"{len(outcomes) / seconds:.1f}", f"{seconds:.0f} s total",
                 "", ""))
    print_table(f"convergence under faults: {len(outcomes):,} random schedules, 3 clients + "
                "server (real engine and stores, simulated network"
                f"{'; no batch twice on one connection' if realistic else ''})", rows,
                header=("measure", "jazz_nb", "detail", "target", "ok"))
    failed = sorted((o for o in outcomes if o.failed), key=lambda o: o.seed)
    for o in failed[:5]:
        print(f"\nseed {o.seed} ({mode_of(o.seed)}): replay with python -m bench.faults "
              f"--replay {o.seed}{' --realistic' if realistic else ''}")
        for line in [*o.divergences, *o.lost, *o.leaked, *o.conflicts][:6]:
            print(f"  {line}")
        if o.crash:
            print("  " + o.crash.strip().replace("\n", "\n  "))
    if failed:
        print(f"\nfailing seeds ({len(failed)}): {' '.join(str(o.seed) for o in failed[:50])}")


def _only_missed_deletes(outcome: Outcome) -> bool:
    return bool(outcome.divergences) and all(d.startswith(MISSED_DELETE)
                                             for d in outcome.divergences)


def _ok(flag: bool) -> str:
    return "yes" if flag else "NO"


def replay(seed: int, resend: bool = True) -> None:
    """Run one schedule on fresh files and print its events and findings.

    Example:
        >>> replay(6)  # doctest: +ELLIPSIS
        seed 6 (open), ... writes:
        ...
        ok
    """
    outcome = run_schedule(seed, resend=resend)
    print(f"seed {seed} ({mode_of(seed)}), {outcome.writes} writes:")
    for i, event in enumerate(outcome.trace):
        print(f"  {i:3d} {event}")
    for line in [*outcome.divergences, *outcome.lost, *outcome.leaked, *outcome.conflicts]:
        print(f"  ! {line}")
    if outcome.crash:
        print(outcome.crash)
    print("failed" if outcome.failed else "ok")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--schedules", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0, help="seed of the first schedule")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="200 schedules (CI size)")
    parser.add_argument("--max-minutes", type=float, default=None,
                        help="stop after this long and report the schedules done")
    parser.add_argument("--replay", type=int, default=None, metavar="SEED")
    parser.add_argument("--realistic", action="store_true",
                        help="duplicate batches only as a real client makes them (replays "
                             "after a reconnect), never twice on one connection")
    parser.add_argument("--kill", action="store_true", help="the kill -9 bench instead")
    parser.add_argument("--rounds", type=int, default=None, help="kill -9 rounds")
    args = parser.parse_args(argv)
    if args.kill:
        from bench import kill9

        kill9.main(["--rounds", str(args.rounds or (5 if args.quick else 100))])
        return
    if args.replay is not None:
        replay(args.replay, not args.realistic)
        return
    count = args.schedules or (200 if args.quick else 10_000)
    outcomes, seconds = run_all(args.seed, count, args.workers, not args.realistic,
                                args.max_minutes)
    report(outcomes, seconds, args.realistic)


if __name__ == "__main__":
    main()
