"""Applying row versions from the server to the local store, fast when there are many.

Small segments become ``RowVersion``s and go through ``store.apply`` (``fresh=True`` for
segments the server marks fresh: rows it just created, which extend nothing here). Larger
fresh segments and big ones (an initial fill, a re-subscription) whose versions are all
parentless first versions of rows this store has none of (one semi-join checks) are inserted
straight from Arrow with the store's own statements; up to ``RECORDS_MAX_ROWS`` rows, the
published ``ChangeSet`` carries their records, so plain live queries re-evaluate them in memory.
Other big segments are classified in DuckDB first: versions already stored are dropped,
versions of rows never seen here that are their row's only, parentless version are inserted
straight from Arrow, and the rest go through ``store.apply`` (which merges). Either way the
store publishes a ``ChangeSet``, so live queries follow.

Example:
    >>> # apply_segments(db.store, app, segments)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from jazz_nb.errors import WriteError
from jazz_nb.schema.app import App
from jazz_nb.store.store import Store
from jazz_nb.store.tables import SMALL, PhysicalTable
from jazz_nb.store.versions import RowVersion
from jazz_nb.sync.frames import Segment, segment_versions

BULK_MIN_ROWS = 256
RECORDS_MAX_ROWS = 4096  # up to this many new rows, the change set carries their records
_INCOMING = "_jz_sync_in"


def apply_segments(store: Store, apps: App | Mapping[str, App],
                   segments: Sequence[Segment]) -> None:
    """Store the versions of ``segments`` (schemas of ``apps``: an app, or apps by hash when
    segments of several schema versions arrive) in ``store``.

    Example:
        >>> # apply_segments(db.store, app, decode_frame(data, {app.schema_hash: app})[1])
    """
    by_hash = {apps.schema_hash: apps} if isinstance(apps, App) else apps
    few: list[RowVersion] = []  # fresh rows, too few for an Arrow round trip
    rest: list[RowVersion] = []
    for segment in _merged(segments):
        app = by_hash[segment.schema_hash]
        if segment.fresh and segment.rows.num_rows <= SMALL:
            few += segment_versions(segment, app.table(segment.table), store.app.schema_hash)
        elif segment.fresh and _insert_new(store, segment, segment.rows):
            continue  # rows the server just created: nothing to look up or merge
        elif segment.rows.num_rows >= BULK_MIN_ROWS:
            rest += _bulk(store, app, segment)
        else:
            rest += segment_versions(segment, app.table(segment.table), store.app.schema_hash)
    if few:
        try:
            store.apply(few, fresh=True)
        except WriteError:  # we had one after all (a duplicate delivery): merge instead
            rest = few + rest
    if rest:
        store.apply(rest)


def _merged(segments: Sequence[Segment]) -> list[Segment]:
    """One segment per (table, schema, fresh): many small frames make one store write."""
    groups: dict[tuple[str, str, bool], list[Segment]] = {}
    for segment in segments:
        groups.setdefault((segment.table, segment.schema_hash, segment.fresh), []).append(segment)
    return [group[0] if len(group) == 1 else replace(
        group[0], rows=pa.concat_tables([g.rows for g in group])) for group in groups.values()]


def _all_new(store: Store, table: PhysicalTable, rows: pa.Table) -> bool:
    """Whether every version is a parentless, visible first version of a row this store has
    never seen (an initial fill; duplicate row ids are caught by ``_insert_new``'s constraint).
    """
    states = pc.unique(rows.column("_jz_state")).to_pylist()
    if not set(states) <= {"VisibleDirect", "VisibleTransactional"} or pc.max(
            pc.list_value_length(rows.column("_jz_parents"))).as_py():
        return False
    with store.lock:
        conn = store.conn
        if conn.execute(f"SELECT count(*) FROM (SELECT 1 FROM {table.history} LIMIT 1)"
                        ).fetchall() == [(0,)]:
            return True
        conn.register(_INCOMING, rows.select(["_jz_row_id"]))
        try:  # a semi-join: much cheaper than classifying every version
            return conn.execute(
                f"SELECT count(*) FROM (SELECT 1 FROM {table.history} WHERE _jz_row_id IN "
                f"(SELECT CAST(_jz_row_id AS UUID) FROM {_INCOMING}) LIMIT 1)").fetchall() \
                == [(0,)]
        finally:
            conn.unregister(_INCOMING)


def _insert_new(store: Store, segment: Segment, rows: pa.Table) -> bool:
    """Insert rows that are each their row's only, parentless version and new to the store,
    straight from Arrow; ``False`` (nothing written) if one was there after all."""
    return store.insert_first_versions(segment.table, rows, schema_hash=segment.schema_hash,
                                       records=_records(store, segment, rows)) is not None


def _records(store: Store, segment: Segment, rows: pa.Table) -> dict[str, RowVersion] | None:
    """The visible record of each new row (its only version), so live queries re-evaluate
    the rows in memory — when there are few and they are of the store's own schema."""
    if segment.schema_hash != store.app.schema_hash or rows.num_rows > RECORDS_MAX_ROWS:
        return None
    versions = segment_versions(Segment(segment.table, segment.schema_hash, rows),
                                store.app.table(segment.table), store.app.schema_hash)
    return {v.row_id: v for v in versions}


def _bulk(store: Store, app: App, segment: Segment) -> list[RowVersion]:
    """Insert the simple new rows of a big segment; returns the versions that need a merge."""
    table = store.physical(segment.table, segment.schema_hash, WriteError)
    rows = segment.rows
    if _all_new(store, table, rows) and _insert_new(store, segment, rows):
        return []  # rows new here (an initial fill): no classification needed
    indexed = rows.append_column("_jz_i", pa.array(np.arange(rows.num_rows), pa.int64()))
    sql = f"""
        WITH inc AS (SELECT _jz_i, CAST(_jz_row_id AS UUID) AS r, CAST(_jz_batch_id AS UUID) AS b,
                            len(_jz_parents) AS np, _jz_state AS s FROM {_INCOMING}),
             counts AS (SELECT r, count(*) AS c FROM inc GROUP BY r),
             known AS (SELECT DISTINCT h._jz_row_id AS r FROM {table.history} AS h
                       WHERE h._jz_row_id IN (SELECT r FROM inc)),
             stored AS (SELECT inc._jz_i FROM inc JOIN {table.history} AS h
                        ON h._jz_row_id = inc.r AND h._jz_batch_id = inc.b)
        SELECT inc._jz_i,
               CASE WHEN inc._jz_i IN (SELECT _jz_i FROM stored) THEN 0
                    WHEN inc.np = 0 AND inc.s IN ('VisibleDirect', 'VisibleTransactional')
                         AND counts.c = 1 AND inc.r NOT IN (SELECT r FROM known) THEN 1
                    ELSE 2 END AS kind
        FROM inc JOIN counts ON counts.r = inc.r ORDER BY inc._jz_i"""
    with store.lock:
        conn = store.conn
        conn.register(_INCOMING, indexed)
        try:
            kinds = conn.sql(sql).fetchnumpy()["kind"]
        finally:
            conn.unregister(_INCOMING)
        simple = np.flatnonzero(kinds == 1)
        if len(simple):
            _insert_new(store, segment, rows.take(pa.array(simple)))
    rest = np.flatnonzero(kinds == 2)
    if not len(rest):
        return []
    return segment_versions(Segment(segment.table, segment.schema_hash,
                                    rows.take(pa.array(rest))),
                            app.table(segment.table), store.app.schema_hash)
