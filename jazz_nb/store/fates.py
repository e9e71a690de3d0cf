"""The server's batch registry, a table of its store: who sent each batch, what became of it.

A batch id belongs to the principal that sent it first (a session's user, or the backend / admin
role). Its fate — accepted, or rejected with a code and reason — is recorded under that owner and
reported only to the owner: a replay by the owner gets the recorded fate, a batch sent by anyone
else under a taken id is refused with ``batch_id_taken`` and recorded nowhere, so nobody can
change what another writer is told about its own batch.

Example:
    >>> from jazz_nb import s
    >>> from jazz_nb.store.store import Store
    >>> registry = BatchRegistry(Store(s.define_app({"t": s.table(n=s.int())})))
    >>> registry.record([("ab" * 16, "user:alice", None, None)])
    >>> registry.lookup(["ab" * 16, "cd" * 16])
    {'abababababababababababababababab': Decided(owner='user:alice', code=None, reason=None)}
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from jazz_nb.store import layout

if TYPE_CHECKING:
    from jazz_nb.schema.app import App
    from jazz_nb.store.store import Store

TABLE = "_jz_sync_batches"
Record = tuple[str, str, str | None, str | None]  # (batch id, owner, code, reason)
"""A decision: the owner is ``Principal.owner`` of the sender."""


@dataclass(frozen=True)
class Decided:
    """A batch's recorded owner and fate (``code`` None = accepted)."""

    owner: str
    code: str | None
    reason: str | None


class BatchRegistry:
    """Owners and fates of every batch a server decided, in its store."""

    def __init__(self, store: Store) -> None:
        self.store = store
        store.execute(f"CREATE TABLE IF NOT EXISTS {TABLE} (batch_id VARCHAR PRIMARY KEY, "
                      "owner VARCHAR NOT NULL, code VARCHAR, reason VARCHAR)")

    def lookup(self, batch_ids: Iterable[str]) -> dict[str, Decided]:
        """The recorded decisions among ``batch_ids``.

        Example:
            >>> # registry.lookup([header["batch_id"]]).get(batch_id)
        """
        wanted = sorted(set(batch_ids))
        if not wanted:
            return {}
        with self.store.lock:
            rows = self.store.execute(f"SELECT batch_id, owner, code, reason FROM {TABLE} "
                                      "WHERE batch_id IN (SELECT unnest(?))", [wanted]).fetchall()
        return {batch: Decided(owner, code, reason) for batch, owner, code, reason in rows}

    def record(self, decided: Sequence[Record]) -> None:
        """Record decisions (a batch id already recorded keeps its first record).

        Example:
            >>> # registry.record([(batch_id, "user:alice", "permission_denied", "...")])
        """
        if decided:
            columns = list(zip(*decided, strict=True))
            self.store.execute(
                f"INSERT INTO {TABLE} SELECT * FROM (SELECT unnest(?) AS b, unnest(?) AS o, "
                "unnest(?) AS c, unnest(?) AS r) ON CONFLICT DO NOTHING",
                [list(c) for c in columns])

    def stored(self, apps: Iterable[App], batch_ids: Sequence[str],
               ) -> dict[str, tuple[str, set[str]]]:
        """Batches found in the row histories (ones stored before the registry knew them):
        ``{batch id: (state, authors)}``, ``authors`` being their versions' ``updated_by``.

        Example:
            >>> # registry.stored(catalogue.apps.values(), [batch_id])
        """
        out: dict[str, tuple[str, set[str]]] = {}
        if not batch_ids:
            return out
        for app in apps:
            for table in app.tables:
                history = layout.quote(layout.history_table(table, app.schema_hash))
                with self.store.lock:
                    rows = self.store.execute(
                        f"SELECT replace(CAST(_jz_batch_id AS VARCHAR), '-', ''), _jz_state, "
                        f"_jz_updated_by FROM {history} WHERE _jz_batch_id IN "
                        "(SELECT CAST(unnest(?) AS UUID))", [list(batch_ids)]).fetchall()
                for batch, state, author in rows:
                    out.setdefault(batch, (state, set()))[1].add(author)
        return out
