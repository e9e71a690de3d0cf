"""Batches and transactions: several writes with one batch id and one fate (§4.2).

``with db.batch() as b:`` publishes every staged write at once when the block ends (nothing if it
raises). On a db without a session, its updates, upserts, deletes and explicit-id inserts are
checked against the store at commit, with one read per table for all of them (``Store.current``:
the memtable first, then one DuckDB query), and the new versions go to the memtable like any
local write, so a 1,000-row batch costs a handful of DuckDB statements; their arguments are
validated at once, a missing row is reported at commit. Under a session every write is read and
checked against the permissions as it is staged, so a denied write raises at the call.
``with db.transaction() as tx:`` is optimistic: rows are read as each write is staged, and at
commit every row it changed must still be as it was, otherwise ``TransactionConflict`` and nothing
is written.

Example:
    >>> # with db.batch() as b:
    >>> #     row = b.insert(app.todos, {"title": "a"})
    >>> #     b.update(app.todos, row.id, {"done": True})
    >>> # b.handle.wait("local")
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any

from jazz_nb.errors import WriteError
from jazz_nb.store.versions import new_batch_id
from jazz_nb.writes.handle import WriteHandle
from jazz_nb.writes.values import insert_values, update_values
from jazz_nb.writes.writer import Writer, row_id_of, table_name

if TYPE_CHECKING:
    from jazz_nb.db import Db
    from jazz_nb.query.results import Row


class Batch:
    """Writes staged under one batch id, committed all or nothing when the block ends."""

    mode = "direct"

    def __init__(self, db: Db) -> None:
        self._db = db
        self._writer = Writer(db, new_batch_id(), self._state())
        self.handle: WriteHandle | None = None
        self._open = True
        self._deferred: list[Callable[[Writer], Any]] = []  # writes that read the store
        self._reads: dict[str, dict[str, None]] = {}  # table -> row ids they read
        self._deferring = self.mode == "direct" and db.session is None

    def _state(self) -> Any:
        return "VisibleDirect"

    @property
    def batch_id(self) -> str:
        """The id every write of this batch shares."""
        return self._writer.batch_id

    def _check_open(self) -> Writer:
        if not self._open:
            raise WriteError(f"this {self.mode} batch is already committed or rolled back")
        return self._writer

    def _stage(self, table: Any, row_id: Any, write: Callable[[Writer, str, str], Any]) -> None:
        """Run ``write(writer, table, row_id)`` now (transactions) or at commit (batches)."""
        writer = self._check_open()
        name = table_name(table)
        rid = row_id_of(row_id, name)
        if not self._deferring:
            write(writer, name, rid)
            return
        self._reads.setdefault(name, {})[rid] = None
        self._deferred.append(lambda w: write(w, name, rid))

    def insert(self, table: Any, values: Mapping[str, Any], *, id: Any = None,
               updated_at: int | None = None) -> Row:
        """Stage an insert; returns the row as it will be stored (in a batch, whether an
        explicit ``id`` is still free is checked at commit).

        Example: ``row = b.insert(app.todos, {"title": "a"}); row.id``
        """
        if id is None or not self._deferring:
            version = self._check_open().insert(table, values, id=id, updated_at=updated_at)
            return self._db.row_of(version)
        name = table_name(table)
        data = insert_values(name, self._db.app.table(name), values)
        self._stage(name, id, lambda w, name, rid: w.insert(name, values, id=rid,
                                                            updated_at=updated_at))
        return self._db.row_from(name, row_id_of(id, name), data)

    def update(self, table: Any, row_id: Any, changes: Mapping[str, Any], *,
               updated_at: int | None = None) -> None:
        """Stage an update of ``row_id`` (columns and values are checked at once).

        Example: ``b.update(app.todos, row.id, {"done": True})``
        """
        name = table_name(table)
        changed = update_values(name, self._db.app.table(name), changes)
        self._stage(name, row_id, lambda w, name, rid: w.update_stored(name, rid, changed,
                                                                       updated_at=updated_at))

    def upsert(self, table: Any, values: Mapping[str, Any], *, id: Any,
               updated_at: int | None = None) -> None:
        """Stage an upsert of ``id``.

        Example: ``b.upsert(app.todos, {"title": "x"}, id=some_id)``
        """
        self._stage(table, id, lambda w, name, rid: w.upsert(name, values, id=rid,
                                                             updated_at=updated_at))

    def delete(self, table: Any, row_id: Any, *, updated_at: int | None = None) -> None:
        """Stage a soft delete of ``row_id``.

        Example: ``b.delete(app.todos, row.id)``
        """
        self._stage(table, row_id, lambda w, name, rid: w.delete(name, rid,
                                                                 updated_at=updated_at))

    def commit(self) -> WriteHandle:
        """Publish every staged write at once and return the batch's handle.

        Example: ``b.commit().wait("local")`` (the ``with`` block calls it for you)
        """
        writer = self._check_open()
        self._open = False
        if self._deferred:  # they read and commit under one hold: built on frontiers
            self.handle = self._db.commit_reading(writer, self._reads, self._run_deferred)
        else:
            self.handle = self._db.commit(writer,
                                          check_conflicts=self.mode == "transactional")
        return self.handle

    def _run_deferred(self) -> None:
        for write in self._deferred:
            write(self._writer)

    def rollback(self) -> None:
        """Drop every staged write; nothing reaches the store."""
        self._check_open()
        self._open = False

    def __enter__(self) -> Batch:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if not self._open:
            return
        if exc_type is None:
            self.commit()
        else:
            self.rollback()

    def __repr__(self) -> str:
        state = "open" if self._open else "closed"
        count = len(self._writer.staged) + len(self._deferred)
        return f"<{type(self).__name__} {self.batch_id[:12]}… {count} writes, {state}>"


class Transaction(Batch):
    """An optimistic transaction: commit fails with ``TransactionConflict`` on a concurrent change.

    Example:
        >>> # with db.transaction() as tx:
        >>> #     tx.update(app.todos, row.id, {"done": True})
    """

    mode = "transactional"

    def _state(self) -> Any:
        return "VisibleTransactional"
