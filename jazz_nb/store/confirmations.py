"""Server confirmations of local batches, a table of the store (the durable half of the outbox).

A local write is stored with ``_jz_tier`` NULL; a confirmation is appended to
``_jz_sync_confirmed`` (cheap, whatever the size of the store). ``unconfirmed`` folds the
recorded confirmations into the tiers of the row tables, empties the table, and returns the
local batches still unconfirmed: the outbox a client restores at start.

Example:
    >>> import jazz_nb as jz
    >>> from jazz_nb import s
    >>> app = s.define_app({"todos": s.table(title=s.string())})
    >>> db = jz.create_db(app, app_id="confirm-doc")
    >>> row = db.insert(app.todos, {"title": "offline"})
    >>> confirmations = Confirmations(db.store, app)
    >>> confirmations.unconfirmed() == {row.batch_id: "VisibleDirect"}
    True
    >>> confirmations.record([row.batch_id]); confirmations.unconfirmed()
    {}
    >>> db.close()
"""

from __future__ import annotations

from collections.abc import Sequence

from jazz_nb.schema.app import App
from jazz_nb.store import layout
from jazz_nb.store.store import Store

TABLE = "_jz_sync_confirmed"
GLOBAL = layout.TIERS.index("global")


class Confirmations:
    """The confirmations recorded in ``store`` for the rows of ``app``."""

    def __init__(self, store: Store, app: App) -> None:
        self.store = store
        self.app = app
        store.execute(f"CREATE TABLE IF NOT EXISTS {TABLE} (batch_id UUID PRIMARY KEY, "
                      "tier TINYINT NOT NULL)")

    def _tables(self) -> list[tuple[str, str]]:
        return [(layout.quote(layout.history_table(t, self.app.schema_hash)),
                 layout.quote(layout.visible_table(t, self.app.schema_hash)))
                for t in self.app.tables]

    def unconfirmed(self) -> dict[str, str]:
        """Fold recorded confirmations into the row tables; then ``{batch id: state}`` of
        every local batch without a tier (no server confirmed it)."""
        found: dict[str, str] = {}
        with self.store.lock:
            conn = self.store.conn
            for history, visible in self._tables():
                conn.execute(f"UPDATE {history} SET _jz_tier = c.tier FROM {TABLE} AS c "
                             f"WHERE {history}._jz_batch_id = c.batch_id AND "
                             f"{history}._jz_tier IS NULL")
                conn.execute(f"UPDATE {visible} SET _jz_tier = c.tier FROM {TABLE} AS c "
                             f"WHERE {visible}._jz_batch = c.batch_id AND "
                             f"{visible}._jz_frontier IS NULL AND {visible}._jz_tier IS NULL")
            conn.execute(f"DELETE FROM {TABLE}")
            for history, _ in self._tables():
                for batch_id, state in conn.execute(
                        f"SELECT DISTINCT replace(CAST(_jz_batch_id AS VARCHAR), '-', ''), "
                        f"_jz_state FROM {history} WHERE _jz_tier IS NULL AND _jz_state IN "
                        "('VisibleDirect', 'VisibleTransactional')").fetchall():
                    found[batch_id] = state
        return found

    def record(self, batch_ids: Sequence[str], tier: int = GLOBAL) -> None:
        """Append confirmations of ``batch_ids`` at ``tier`` (an index of ``layout.TIERS``)."""
        if batch_ids:
            self.store.execute(f"INSERT INTO {TABLE} SELECT unnest(CAST(? AS UUID[])), ? "
                               "ON CONFLICT DO NOTHING", [list(batch_ids), tier])
