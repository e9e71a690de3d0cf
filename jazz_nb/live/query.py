"""``LiveQuery``: a query result kept current, incrementally, as an Arrow table and a DataFrame.

State: the result as an Arrow table in result order (columns chunked, versions share unchanged
chunks), a ``PositionIndex`` (row id → position) and, once ``.df`` is read, a ``FrameMirror``.

A flush turns queued row ids into one change:

1. candidates — changed root rows plus root rows linked to changed included rows (``deps``);
2. re-evaluation of just those ids: in memory on the records the store just wrote when the
   query is plain (``direct``), else in DuckDB (the query compiled ``only_ids``, no window);
3. classification — removed (no longer match), added (new), updated (which columns), moved
   (a sort key changed and the row no longer fits between its neighbours);
4. placement — new and moved rows are placed by binary search on the sort keys (``order``);
5. apply — one splice of every column if rows were added/removed/moved, with that flush's
   cell writes done in the same pass (one rebuild per touched chunk); else cell writes alone.

Ordered windows (``limit``/``offset``) re-run the window only, and only when a change can
reach it; a queue overflow or an order we cannot replay falls back to re-running the query and
diffing ids (still applied as one splice).

Example:
    >>> import jazz_nb as jz
    >>> from jazz_nb import s
    >>> app = s.define_app({"todos": s.table(title=s.string(), done=s.boolean(default=False))})
    >>> db = jz.create_db(app, app_id="live-doc")
    >>> live = db.live(app.todos.where(done=False))
    >>> frame = live.df
    >>> row = db.insert(app.todos, {"title": "Buy milk"})
    >>> frame is live.df, list(frame["title"]), live.last_delta.added == (row.id,)
    (True, ['Buy milk'], True)
    >>> db.close()
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from jazz_nb.errors import JazzError
from jazz_nb.live import chunks as ch
from jazz_nb.live import order
from jazz_nb.live.delta import Delta
from jazz_nb.live.direct import DirectEval
from jazz_nb.live.frame import ChunkMirror, FrameMirror, arrow_backed
from jazz_nb.live.keys import PositionIndex
from jazz_nb.live.plan import Plan

if TYPE_CHECKING:
    import pandas as pd

    from jazz_nb.query.builder import Query

log = logging.getLogger("jazz_nb.live")

MAX_PENDING = 50_000  # queued row ids from other threads before falling back to a re-query
MAX_ROUNDS = 20  # flush rounds in one call when callbacks keep writing


@dataclass
class _Change:
    """One flush's effect on the result, ready to apply."""

    removed_pos: np.ndarray  # old positions leaving (removed and moved), sorted
    removed_slots: np.ndarray  # their PositionIndex slots
    inserted_pos: np.ndarray  # final positions of inserted rows (added and moved), sorted
    inserted: pa.Table | None  # those rows, in final order
    updates: dict[str, tuple[np.ndarray, pa.Array]]  # column -> (final positions, values)
    delta: Delta
    reset: pa.Table | None = None  # a whole new result (full refresh of a small window)

    @property
    def structural(self) -> bool:
        return len(self.removed_pos) > 0 or len(self.inserted_pos) > 0


def _same(a: pa.Array, b: pa.Array) -> np.ndarray:
    """Elementwise 'same value' (nulls equal nulls, NaN equals NaN, nested compared deeply)."""
    if len(a) == 0:
        return np.zeros(0, dtype=bool)
    typ = a.type
    if len(a) <= 16 or pa.types.is_nested(typ) or pa.types.is_dictionary(typ):
        return np.array([x == y or (x != x and y != y)  # NaN == NaN here
                         for x, y in zip(a.to_pylist(), b.to_pylist(), strict=True)],
                        dtype=bool)
    same = pc.equal(a, b).fill_null(False)
    both_null = pc.and_(a.is_null(), b.is_null())
    same = pc.or_(same, both_null)
    if pa.types.is_floating(typ):
        same = pc.or_(same, pc.and_(pc.is_nan(a).fill_null(False),
                                    pc.is_nan(b).fill_null(False)))
    return same.to_numpy(zero_copy_only=False)


class LiveQuery:
    """A live query: ``.df`` (one DataFrame object, reconciled in place) and ``.arrow``
    (immutable table versions sharing unchanged chunks) follow every committed change.

    Create it with ``db.live(query)``; use it as a context manager or ``close()`` it.
    Writes made on this thread show up before the write call returns; changes committed on
    other threads are queued and applied at the next flush (the kernel's IO loop in Jupyter,
    ``wait_for`` or ``db.flush()`` elsewhere). ``plan`` (``jazz_nb.live.plan.Plan``) holds its
    compiled statements; ``replan()`` rebuilds it.
    """

    def __init__(self, db: Any, query: Query, *, flush_interval: float = 0.1) -> None:
        from jazz_nb.live.registry import registry_for

        self.db = db
        self.query = query
        self.flush_interval = flush_interval
        self.owner = threading.get_ident()
        self.created_at = time.time()
        self.version = 0
        self.last_delta: Delta = Delta()
        self.errors: collections.deque[BaseException] = collections.deque(maxlen=20)
        self.error: BaseException | None = None
        self.flushes = 0
        self.timings: dict[str, float] = {}  # seconds of the last flush: compute, apply
        self._callbacks: list[Callable[[LiveQuery, Delta], Any]] = []
        self._pending: dict[str, set[str]] = {}
        self._pending_rows: dict[str, Any] | None = {}  # root records; None = some unknown
        self._pending_count = 0
        self._pending_full = False
        self._lock = threading.Lock()
        self._event = threading.Event()
        self._flushing = False
        self._needs_reset = False
        self._closed = False
        self._mirror: FrameMirror | None = None
        self._arrow_cache: tuple[int, pa.Table] | None = None
        self._internal_schema: pa.Schema | None = None
        self._public_schema: pa.Schema | None = None
        self._narrow: dict[str, ChunkMirror] = {}
        self.plan = Plan.of(self.db, self.query)
        self._registry = registry_for(db)
        sync = db.engine.sync  # query-scoped sync: subscribe upstream and,
        self._upstream = sync.subscribe(query, wait=True) if sync else None  # if online, wait
        with db.store.lock:  # no commit between the first read and listening
            self._table = self._fetch_full()
            self._direct = DirectEval.build(db, query, self._table.schema, self.plan.keys)
            self._starts = ch.bounds(self._table.column(0))  # every column shares the layout
            self._index = PositionIndex(self._table.column("id"), self._starts)
            self._registry.add(self)

    # -- public API ------------------------------------------------------------------------------
    @property
    def df(self) -> pd.DataFrame:
        """The result as a pandas DataFrame indexed by ``id`` — always the same object.

        Treat it as read-only (writes go through the db). A Series or slice taken from it is a
        snapshot under Copy-on-Write; the frame itself stays live.
        """
        self._check_open()
        if self._mirror is None:
            self._mirror = FrameMirror(self._visible())
        return self._mirror.df

    @property
    def arrow(self) -> pa.Table:
        """The current result as an immutable ``pyarrow.Table`` (a new object per version)."""
        cached = self._arrow_cache
        if cached is not None and cached[0] == self.version:
            return cached[1]
        table = self._visible()
        if self._narrow:  # strings are held as large_string (pandas' storage): cast back
            cols = []
            for name, col in zip(table.column_names, table.columns, strict=True):
                mirror = self._narrow.get(name)
                cols.append(col if mirror is None else mirror.sync(col))
            table = pa.Table.from_arrays(cols, schema=self._public_schema)
        self._arrow_cache = (self.version, table)
        return table

    def _visible(self) -> pa.Table:
        """The internal table without hidden sort columns (internal string types)."""
        return self._table.select(self.plan.public) if self.plan.hidden else self._table

    def __arrow_c_stream__(self, requested_schema: Any = None) -> Any:
        """Arrow PyCapsule stream of the current version (polars, DuckDB, pyarrow read it)."""
        return self.arrow.__arrow_c_stream__(requested_schema)

    def __len__(self) -> int:
        return self._table.num_rows

    @property
    def ids(self) -> list[str]:
        """Row ids in result order."""
        return self._table.column("id").to_pylist()

    @property
    def status(self) -> str:
        """``"live"``, ``"pending"`` (changes queued), ``"error"`` or ``"closed"``."""
        if self._closed:
            return "closed"
        if self.error is not None:
            return "error"
        return "pending" if self._pending_count or self._pending_full else "live"

    def memory_bytes(self) -> int:
        """Bytes held by this live query: Arrow buffers (counted once even when the frame
        shares them), the frame's other columns and index, and the position index."""
        seen: dict[int, int] = {}

        def add(arrays: Iterable[pa.Array]) -> None:
            for array in arrays:
                for buf in array.buffers():
                    if buf is not None:
                        seen[buf.address] = max(seen.get(buf.address, 0), buf.size)

        for col in self._table.columns:
            add(col.chunks)
        total = self._index.nbytes
        mirror = self._mirror
        if mirror is not None:
            df = mirror.df
            for j in mirror.names.values():
                if j in mirror.mirrors:
                    add(mirror.mirrors[j].chunks)
                else:
                    total += int(df.iloc[:, j].memory_usage(deep=True, index=False))
            if mirror.index_mirror is not None:
                add(mirror.index_mirror.chunks)
            else:
                total += int(df.index.memory_usage(deep=True))
        for narrow in self._narrow.values():
            add(narrow.chunks)
        return total + sum(seen.values())

    @property
    def table(self) -> str:
        """The queried table."""
        return self.query.table

    @property
    def sql(self) -> str:
        """The compiled SQL of the query."""
        return self.plan.public_compiled.sql

    def on_change(self, callback: Callable[..., Any]) -> Callable[[], None]:
        """Call ``callback(live, delta)`` after every flush that changed the result (once per
        flush, on this live query's thread); returns a function that removes it."""
        self._callbacks.append(callback)

        def remove() -> None:
            if callback in self._callbacks:
                self._callbacks.remove(callback)

        return remove

    def flush(self) -> Delta | None:
        """Apply queued changes now (must run on the thread that created the live query)."""
        if self._closed:
            return None
        if threading.get_ident() != self.owner:
            raise JazzError("a live query is flushed on the thread that created it")
        if self._flushing:
            return None
        self._flushing = True
        last = None
        try:
            for _ in range(MAX_ROUNDS):
                with self._lock:
                    pending, full, rows = self._pending, self._pending_full, self._pending_rows
                    self._pending, self._pending_count, self._pending_full = {}, 0, False
                    self._pending_rows = {}
                    self._event.clear()
                if not pending and not full:
                    break
                delta = self._run(pending, full, rows)
                if delta:
                    last = delta
                    self._notify(delta)
        finally:
            self._flushing = False
        return last

    def wait_for(self, predicate: Callable[[LiveQuery], Any], timeout: float = 5.0) -> bool:
        """Flush until ``predicate(live)`` is true; ``TimeoutError`` after ``timeout`` seconds.

        Example: ``live.wait_for(lambda lq: len(lq.df) == 3, timeout=2)``
        """
        deadline = time.monotonic() + timeout
        while True:
            self.flush()
            if predicate(self):
                return True
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"live query on {self.table!r}: condition not met within "
                                   f"{timeout} s (status {self.status}, {len(self)} rows)")
            self._event.wait(min(left, 0.5))

    def refresh(self) -> Delta | None:
        """Re-run the whole query and reconcile (normally never needed)."""
        with self._lock:
            self._pending_full = True
        return self.flush()

    def replan(self) -> None:
        """Compile the query again — the lens graph it reads through changed — and re-run it
        into the same frame: at once on the owner thread, at its next flush from another.

        Example:
            >>> # db.migrations.add(s.migration(v2, v3)) re-plans every live query this way
        """
        self.plan = Plan.of(self.db, self.query)
        if threading.get_ident() == self.owner:
            self.refresh()
        else:
            with self._lock:
                self._pending_full = True
            self._event.set()

    def close(self) -> None:
        """Stop following changes (the frame keeps its last content)."""
        if not self._closed:
            self._closed = True
            self._registry.discard(self)
            self._callbacks.clear()
            if self._upstream is not None:
                self._upstream.close()

    @property
    def closed(self) -> bool:
        """Whether ``close()`` was called."""
        return self._closed

    def __enter__(self) -> LiveQuery:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return (f"<LiveQuery {self.query!r}: {len(self)} rows, {self.status}, "
                f"v{self.version}>")

    def _repr_html_(self) -> str:
        from jazz_nb.notebook.html import live_html

        return live_html(self)

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        from jazz_nb.notebook.widgets import live_mimebundle

        return live_mimebundle(self)

    # -- change intake (any thread) -------------------------------------------------------------
    def _check_open(self) -> None:
        if self._closed:
            raise JazzError(f"this live query on table {self.table!r} is closed")

    def _receive(self, changes: Any) -> bool:
        """Queue a committed change set; returns whether it concerns this query."""
        tables: dict[str, tuple[str, ...]] = changes.tables
        relevant = {t: ids for t, ids in tables.items() if t in self.plan.deps.tables}
        rerun = any(t in self.plan.refresh for t in tables)
        if not relevant and not rerun:
            return False
        with self._lock:
            if rerun:  # a row policy looks these tables up: any row may have changed
                self._pending_full = True
            for table, ids in relevant.items():
                before = len(self._pending.setdefault(table, set()))
                self._pending[table].update(ids)
                self._pending_count += len(self._pending[table]) - before
            root = self.query.table
            if root in relevant and self._pending_rows is not None:
                records = changes.rows.get(root)
                if records is None:
                    self._pending_rows = None
                else:
                    self._pending_rows.update(records)
            if self._pending_count > MAX_PENDING:
                self._pending, self._pending_count, self._pending_full = {}, 0, True
                self._pending_rows = {}
            self._event.set()
        return True

    # -- flushing (owner thread) -----------------------------------------------------------------
    def _notify(self, delta: Delta) -> None:
        for callback in list(self._callbacks):
            try:
                callback(self, delta)
            except Exception as err:  # a failing callback must not break the others
                self.errors.append(err)
                log.exception("live query on %r: on_change callback %r failed", self.table,
                              callback)

    def _run(self, pending: dict[str, set[str]], full: bool,
             rows: dict[str, Any] | None = None) -> Delta | None:
        try:
            start = time.perf_counter()
            if self._needs_reset:
                delta = self._reset()
                self.error = None
                return delta
            change = self._compute(pending, full, rows)
            computed = time.perf_counter()
            self.timings["compute"] = computed - start
            if change is None:
                self.error = None
                return None
            self._apply(change)
            self.timings["apply"] = time.perf_counter() - computed
            self.error = None
        except Exception as err:
            self.error = err
            self.errors.append(err)
            log.exception("live query on %r failed to apply a change", self.table)
            with self._lock:  # rebuild everything at the next flush
                self._needs_reset = True
                self._pending_full = True
            return None
        self.flushes += 1
        return change.delta

    def _reset(self) -> Delta:
        """Re-read the whole result and rebuild every structure (after a failed flush)."""
        new = self._fetch_full()
        try:
            change = self._diff(new)
            delta = change.delta if change is not None else Delta(version=self.version + 1)
        except Exception:  # the old state itself may be inconsistent: report a reset
            delta = Delta(version=self.version + 1, reset=True)
        self._table = new
        self._starts = ch.bounds(new.column(0))
        self._index = PositionIndex(new.column("id"), self._starts)
        self.version += 1
        self.last_delta = delta
        self._needs_reset = False
        if self._mirror is not None:
            self._mirror.reset(self._visible())
        return delta

    def _fetch_full(self) -> pa.Table:
        table = self.db.fetch_arrow(self.plan.full)
        if self._internal_schema is None:
            self._plan_types(table.schema)
        assert self._internal_schema is not None
        if table.schema != self._internal_schema:
            table = table.cast(self._internal_schema)
        return pa.table([ch.rechunk(c) for c in table.columns], schema=table.schema)

    def _plan_types(self, schema: pa.Schema) -> None:
        """Where pandas stores text as Arrow ``large_string`` (pandas 3), hold string columns
        in that type: the frame then shares the live table's chunks as they are, and only
        ``.arrow`` (if read) casts chunks back to ``string`` — once per changed chunk."""
        wide = arrow_backed(pa.array(["x"]).to_pandas().array)
        fields = []
        self._narrow = {}
        for field_ in schema:
            if wide and pa.types.is_string(field_.type):
                fields.append(field_.with_type(pa.large_string()))
                if field_.name in self.plan.public:
                    self._narrow[field_.name] = ChunkMirror(field_.type)
            else:
                fields.append(field_)
        self._internal_schema = pa.schema(fields, metadata=schema.metadata)
        self._public_schema = pa.schema([schema.field(n) for n in self.plan.public],
                                        metadata=schema.metadata)

    def _fetch_ids(self, ids: list[str], rows: dict[str, Any] | None = None) -> pa.Table:
        """The query's rows among ``ids`` (no window), in result order: evaluated on the
        written records when all are known and the query is plain, else by DuckDB."""
        if self._direct is not None and rows is not None and all(i in rows for i in ids):
            return self._direct.fetch({i: rows[i] for i in ids})
        table = self.db.fetch_arrow(self.plan.only_ids, ids)
        if table.schema != self._table.schema:
            table = table.cast(self._table.schema)
        return table

    def _compute(self, pending: dict[str, set[str]], full: bool,
                 rows: dict[str, Any] | None) -> _Change | None:
        if full:
            return self._diff(self._fetch_full())
        candidates = self.plan.deps.candidates(pending, self._table)
        if not candidates:
            return None
        if self.plan.windowed:
            if not self._window_reached(candidates, pending, rows):
                return None
            return self._diff(self._fetch_full())
        return self._incremental(candidates, rows)

    def _window_reached(self, candidates: list[str], pending: dict[str, set[str]],
                        rows: dict[str, Any] | None) -> bool:
        """Whether a change can alter the window (else skip the re-query)."""
        if self.plan.offset:
            return True
        inside = self._index.lookup(candidates) >= 0
        if inside.any():
            return True
        if self.query.table not in pending:
            return False  # included rows of rows outside the window
        fetched = self._fetch_ids(candidates, rows)
        if fetched.num_rows == 0:
            return False
        n = self._table.num_rows
        if self.plan.limit is None or n < self.plan.limit:
            return True
        try:
            points = order.insertion_points(self._table, self.plan.keys, fetched)
        except order.Unsortable:
            return True
        return bool((points < n).any())

    def _incremental(self, candidates: list[str], rows: dict[str, Any] | None) -> _Change | None:
        fetched = self._fetch_ids(candidates, rows)
        cand = pa.array(candidates, type=pa.string())
        cand_slots = self._index.slots(cand)
        fetched_ids = ch.flat(fetched.column("id"))
        at = pc.index_in(fetched_ids, value_set=cand.cast(fetched_ids.type))  # fetched ⊆ cand
        f_slots = cand_slots[at.to_numpy(zero_copy_only=False)] if at.null_count == 0 \
            else self._index.slots(fetched_ids)
        f_pos = self._index.positions(f_slots)
        still = pc.is_in(cand, value_set=fetched_ids).to_numpy(zero_copy_only=False)
        gone = np.flatnonzero((cand_slots >= 0) & ~still)
        removed_slots = cand_slots[gone]
        removed_pos = self._index.positions(removed_slots)
        common = np.flatnonzero(f_pos >= 0)
        added = np.flatnonzero(f_pos < 0)
        changed = self._changed_columns(f_pos[common], fetched, common)
        # moves: rows whose sort key changed
        sort_cols = {k.column for k in self.plan.keys}
        key_changed = np.zeros(len(common), dtype=bool)
        for name in sort_cols & set(changed):
            key_changed |= changed[name]
        moved = common[key_changed]
        if len(moved):
            moved = self._really_moved(moved, f_pos, fetched, len(added) + len(removed_pos) > 0)
        if not (len(removed_pos) or len(added) or len(moved) or
                any(m.any() for m in changed.values())):
            return None
        leaving_pos = np.concatenate([removed_pos, f_pos[moved]])
        leaving_slots = np.concatenate([removed_slots, f_slots[moved]])
        order_ = np.argsort(leaving_pos, kind="stable")
        leaving_pos, leaving_slots = leaving_pos[order_], leaving_slots[order_]
        entering = np.sort(np.concatenate([added, moved]))  # fetched rows, in result order
        inserted = ch.gather_table(fetched, entering) if len(entering) else None
        inserted_pos = np.zeros(0, dtype=np.int64)
        if inserted is not None:
            try:
                points = order.insertion_points(self._table, self.plan.keys, inserted)
            except order.Unsortable:
                return self._diff(self._fetch_full())
            kept_before = points - np.searchsorted(leaving_pos, points, side="left")
            inserted_pos = kept_before + np.arange(len(entering))
        stay = np.flatnonzero(~np.isin(common, moved))  # rows updated in place
        finals = _remap(leaving_pos, inserted_pos)(f_pos[common[stay]])
        updates = _cell_updates(fetched, changed, common[stay], finals, stay)
        delta = self._delta(fetched_ids, added, entering, inserted_pos, changed, common, stay,
                            finals, cand.take(pa.array(gone)), removed_pos)
        return _Change(leaving_pos, leaving_slots, inserted_pos, inserted, updates, delta)

    def _changed_columns(self, old_pos: np.ndarray, fetched: pa.Table,
                         rows: np.ndarray) -> dict[str, np.ndarray]:
        """Per column, which of the common rows changed value."""
        out: dict[str, np.ndarray] = {}
        if not len(rows):
            return out
        for name in self._table.column_names:
            if name == "id":
                continue
            old = ch.gather(self._table.column(name), old_pos, self._starts)
            new = ch.gather(fetched.column(name), rows)
            diff = ~_same(old, new)
            if diff.any():
                out[name] = diff
        return out

    def _really_moved(self, moved: np.ndarray, f_pos: np.ndarray, fetched: pa.Table,
                      structural: bool) -> np.ndarray:
        """Rows whose new key still sits between their old neighbours do not move."""
        if structural:
            return moved
        positions = f_pos[moved]
        occupied = set(positions.tolist())
        near = np.array([p - 1 in occupied or p + 1 in occupied for p in positions.tolist()])
        rows = ch.gather_table(fetched, moved)
        try:
            fits = order.sorted_between(self._table, self.plan.keys, positions, rows)
        except order.Unsortable:
            return moved
        return moved[~fits | near]

    def _delta(self, fetched_ids: pa.Array, added: np.ndarray, entering: np.ndarray,
               inserted_pos: np.ndarray, changed: dict[str, np.ndarray], common: np.ndarray,
               stay: np.ndarray, stay_final: np.ndarray, removed_ids: pa.Array,
               removed_pos: np.ndarray) -> Delta:
        """The flush's ``Delta``: ``entering`` rows (added, then moved) sit at
        ``inserted_pos`` (both sorted); rows ``common[stay]`` stay, at ``stay_final``."""
        public = set(self.plan.public)
        names = [n for n in changed if n in public]
        shown = np.column_stack([changed[n] for n in names]) if names else \
            np.zeros((len(common), 0), dtype=bool)
        is_added = np.isin(entering, added)
        moved = entering[~is_added]  # all of them are updated, even with no shown change
        visible = shown[stay].any(axis=1)
        upd = np.concatenate([np.searchsorted(common, moved), stay[visible]])  # in common
        upd_pos = np.concatenate([inserted_pos[~is_added], stay_final[visible]])
        by_pos = np.argsort(upd_pos, kind="stable")
        upd, upd_pos = upd[by_pos], upd_pos[by_pos]
        named: dict[tuple[bool, ...], tuple[str, ...]] = {}  # one tuple per change pattern
        cols = []
        for row in map(tuple, shown[upd].tolist()):
            if row not in named:
                named[row] = tuple(n for n, on in zip(names, row, strict=True) if on)
            cols.append(named[row])
        by_removed = np.argsort(removed_pos, kind="stable")
        return Delta(
            added=tuple(_take_ids(fetched_ids, entering[is_added])),
            added_index=tuple(inserted_pos[is_added].tolist()),
            updated=dict(zip(_take_ids(fetched_ids, common[upd]), cols, strict=True)),
            updated_index=tuple(upd_pos.tolist()),
            removed=tuple(_take_ids(removed_ids, by_removed)),
            removed_index=tuple(removed_pos[by_removed].tolist()),
            moved=tuple(_take_ids(fetched_ids, moved)),
            version=self.version + 1)

    def _diff(self, new: pa.Table) -> _Change | None:
        """The change from the current result to ``new`` (a re-run of the whole query)."""
        if new.schema != self._table.schema:
            new = new.cast(self._table.schema)
        new_ids = ch.flat(new.column("id"))
        slots = self._index.slots(new_ids)
        f_pos = self._index.positions(slots)
        n_old = self._table.num_rows
        kept = np.zeros(n_old, dtype=bool)
        kept[f_pos[f_pos >= 0]] = True
        removed_pos = np.flatnonzero(~kept)
        old_ids = ch.flat(self._table.column("id"))
        removed_ids = ch.gather(old_ids, removed_pos, self._starts)
        removed_slots = self._index.slots(removed_ids)  # (a full refresh: O(n) is fine)
        common = np.flatnonzero(f_pos >= 0)
        # keep the longest run of rows already in order (greedy); the others move
        moved_mask = np.zeros(len(common), dtype=bool)
        last = -1
        for i, p in enumerate(f_pos[common].tolist()):
            if p > last:
                last = p
            else:
                moved_mask[i] = True
        moved = common[moved_mask]
        added = np.flatnonzero(f_pos < 0)
        changed = self._changed_columns(f_pos[common], new, common)
        if not (len(removed_pos) or len(added) or len(moved) or
                any(m.any() for m in changed.values())):
            return None
        entering = np.sort(np.concatenate([added, moved]))
        leaving_pos = np.concatenate([removed_pos, f_pos[moved]])
        leaving_slots = np.concatenate([removed_slots, slots[moved]])
        o = np.argsort(leaving_pos, kind="stable")
        leaving_pos, leaving_slots = leaving_pos[o], leaving_slots[o]
        inserted_pos = entering.astype(np.int64)  # final position = index in the new result
        inserted = ch.gather_table(new, entering) if len(entering) else None
        final_of_old = _remap(leaving_pos, inserted_pos)
        stay = np.flatnonzero(~np.isin(common, moved))  # rows updated in place
        finals = final_of_old(f_pos[common[stay]])
        updates = _cell_updates(new, changed, common[stay], finals, stay)
        delta = self._delta(new_ids, added, entering, inserted_pos, changed, common, stay,
                            finals, removed_ids, removed_pos)
        return _Change(leaving_pos, leaving_slots, inserted_pos, inserted, updates, delta)

    def _apply(self, change: _Change) -> None:
        table = self._table
        plan = None
        rebuilt: dict[str, list[int] | None] = {}
        if change.structural:  # one splice per column, cell updates folded in
            inserted = change.inserted if change.inserted is not None else table.slice(0, 0)
            plan = ch.build_plan(table.num_rows, change.removed_pos, change.inserted_pos)
            lay = ch.layout(plan, self._starts, ch.bounds(inserted.column(0)))
            cols = []
            for name, col, new in zip(table.column_names, table.columns, inserted.columns,
                                      strict=True):
                update = change.updates.get(name)
                if update is None:
                    cols.append(ch.splice(col, lay, new))
                    continue
                cols.append(ch.splice(col, lay, new, cells=ch.cell_order(*update)))
                rebuilt[name] = None
            table = pa.Table.from_arrays(cols, schema=table.schema)
            self._index.splice(change.removed_slots, change.removed_pos, change.inserted_pos,
                               ch.flat(inserted.column("id")))
            starts = lay.starts
        else:
            starts = self._starts
            for name, (positions, values) in change.updates.items():
                i = table.schema.get_field_index(name)
                col, rebuilt[name] = ch.replace_cells_in(table.column(i), positions, values,
                                                         starts)
                table = table.set_column(i, table.schema.field(i), col)
        self._index.set_ids(table.column("id"), starts)
        self._table = table
        self._starts = starts
        self.version += 1
        self.last_delta = change.delta
        mirror = self._mirror
        if mirror is not None:
            public = self._visible()
            if plan is not None:
                inserted = change.inserted if change.inserted is not None else \
                    self._table.slice(0, 0)
                mirror.splice(public, plan, inserted.select(self.plan.public))
            mirror.update_cells(public, [
                (name, positions, values, rebuilt[name])
                for name, (positions, values) in change.updates.items()
                if name in mirror.names])


def _take_ids(ids: pa.Array, rows: np.ndarray) -> list[str]:
    """``ids[rows]`` as Python strings."""
    return ids.take(pa.array(rows, type=pa.int64())).to_pylist() if len(rows) else []


def _cell_updates(table: pa.Table, changed: dict[str, np.ndarray], rows: np.ndarray,
                  finals: np.ndarray, stay: np.ndarray,
                  ) -> dict[str, tuple[np.ndarray, pa.Array]]:
    """Per changed column, the final positions and new values of the rows updated in place:
    ``table`` rows ``rows`` (common rows ``stay``) at final positions ``finals``."""
    updates: dict[str, tuple[np.ndarray, pa.Array]] = {}
    for name, mask in changed.items():
        hit = mask[stay]
        if hit.any():
            updates[name] = (finals[hit], ch.gather(table.column(name), rows[hit]))
    return updates


def _remap(removed: np.ndarray, inserted: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    """Old position of a row that stays → its final position."""
    gaps = inserted - np.arange(len(inserted)) if len(inserted) else inserted

    def final(old: np.ndarray) -> np.ndarray:
        old = np.asarray(old, dtype=np.int64)
        q = old - np.searchsorted(removed, old, side="left") if len(removed) else old
        return q + np.searchsorted(gaps, q, side="right") if len(gaps) else q

    return final
