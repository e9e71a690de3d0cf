"""Classifying versions that arrive in bulk (from a sync server) against the store's history.

Both look-ups are one DuckDB statement over the arriving Arrow rows (registered for the
statement, never copied into a table): ``all_unseen`` asks whether a batch of parentless
first versions is entirely new here (an initial fill); ``classify`` sorts every version into
already stored, new and simple (its row's only, parentless version, of a row never seen), or to
be merged.

Example:
    >>> # kinds = classify(store, store.physical("todos", "", WriteError), segment.rows)
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from jazz_nb.store.store import Store
from jazz_nb.store.tables import PhysicalTable

STORED, NEW, MERGE = 0, 1, 2  # the kinds ``classify`` returns
_INCOMING = "_jz_sync_in"


def all_unseen(store: Store, table: PhysicalTable, rows: pa.Table) -> bool:
    """Whether every version is a parentless, visible first version of a row this store has
    never seen (duplicate row ids are caught later by the insert's constraint)."""
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


def classify(store: Store, table: PhysicalTable, rows: pa.Table) -> np.ndarray:
    """The kind of each version of ``rows``, in order: ``STORED`` (this batch of this row is
    here), ``NEW`` (its row's only, parentless version, of a row never seen here) or ``MERGE``.
    Call it holding ``store.lock`` when the answer must still hold at the next write."""
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
               CASE WHEN inc._jz_i IN (SELECT _jz_i FROM stored) THEN {STORED}
                    WHEN inc.np = 0 AND inc.s IN ('VisibleDirect', 'VisibleTransactional')
                         AND counts.c = 1 AND inc.r NOT IN (SELECT r FROM known) THEN {NEW}
                    ELSE {MERGE} END AS kind
        FROM inc JOIN counts ON counts.r = inc.r ORDER BY inc._jz_i"""
    with store.lock:
        conn = store.conn
        conn.register(_INCOMING, indexed)
        try:
            return conn.sql(sql).fetchnumpy()["kind"]
        finally:
            conn.unregister(_INCOMING)
