"""Applying row versions from the server to the local store, fast when there are many.

Small segments become ``RowVersion``s and go through ``store.deliver``: versions that extend
their row's current frontier (the usual case: a row another peer just wrote or changed) wait in
the store's memtable like local writes, the rest are merged by ``store.apply``. Larger fresh
segments and big ones (an initial fill, a re-subscription) whose versions are all parentless
first versions of rows this store has none of (one semi-join checks) are inserted straight from
Arrow with the store's own statements; up to ``RECORDS_MAX_ROWS`` rows, the published
``ChangeSet`` carries their records, so plain live queries re-evaluate them in memory. Other big
segments are classified in DuckDB first (``jazz_nb.store.incoming``): versions already stored
are dropped, versions of rows never seen here that are their row's only, parentless version are
inserted straight from Arrow, and the rest are delivered as above. Either way the store
publishes a ``ChangeSet``, so live queries follow.

Example:
    >>> # apply_segments(db.store, app, segments)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

import numpy as np
import pyarrow as pa

from jazz_nb.errors import WriteError
from jazz_nb.schema.app import App
from jazz_nb.store.incoming import MERGE, NEW, all_unseen, classify
from jazz_nb.store.store import Store
from jazz_nb.store.tables import SMALL
from jazz_nb.store.versions import RowVersion
from jazz_nb.sync.frames import Segment, segment_versions

BULK_MIN_ROWS = 256
RECORDS_MAX_ROWS = 4096  # up to this many new rows, the change set carries their records


def apply_segments(store: Store, apps: App | Mapping[str, App],
                   segments: Sequence[Segment]) -> None:
    """Store the versions of ``segments`` (schemas of ``apps``: an app, or apps by hash when
    segments of several schema versions arrive) in ``store``.

    Example:
        >>> # apply_segments(db.store, app, decode_frame(data, {app.schema_hash: app})[1])
    """
    by_hash = {apps.schema_hash: apps} if isinstance(apps, App) else apps
    versions: list[RowVersion] = []
    for segment in _merged(segments):
        app = by_hash[segment.schema_hash]
        small = segment.rows.num_rows <= SMALL  # too few rows for an Arrow round trip
        if segment.fresh and not small and _insert_new(store, segment, segment.rows):
            continue  # rows the server just created: nothing to look up or merge
        if segment.rows.num_rows >= BULK_MIN_ROWS:
            versions += _bulk(store, app, segment)
        else:
            versions += segment_versions(segment, app.table(segment.table),
                                         store.app.schema_hash)
    store.deliver(versions)


def _merged(segments: Sequence[Segment]) -> list[Segment]:
    """One segment per (table, schema, fresh): many small frames make one store write."""
    groups: dict[tuple[str, str, bool], list[Segment]] = {}
    for segment in segments:
        groups.setdefault((segment.table, segment.schema_hash, segment.fresh), []).append(segment)
    return [group[0] if len(group) == 1 else replace(
        group[0], rows=pa.concat_tables([g.rows for g in group])) for group in groups.values()]


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
    if all_unseen(store, table, rows) and _insert_new(store, segment, rows):
        return []  # rows new here (an initial fill): no classification needed
    with store.lock:  # the classification holds until the simple rows are in
        kinds = classify(store, table, rows)
        simple = np.flatnonzero(kinds == NEW)
        if len(simple):
            _insert_new(store, segment, rows.take(pa.array(simple)))
    rest = np.flatnonzero(kinds == MERGE)
    if not len(rest):
        return []
    return segment_versions(Segment(segment.table, segment.schema_hash,
                                    rows.take(pa.array(rest))),
                            app.table(segment.table), store.app.schema_hash)
