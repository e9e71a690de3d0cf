"""Batches and transactions: several writes with one batch id and one fate (§4.2).

``with db.batch() as b:`` publishes every staged write at once when the block ends (nothing if it
raises). ``with db.transaction() as tx:`` is optimistic: at commit every row it changed must still
be as it was when staged, otherwise ``TransactionConflict`` and nothing is written.

Example:
    >>> # with db.batch() as b:
    >>> #     row = b.insert(app.todos, {"title": "a"})
    >>> #     b.update(app.todos, row.id, {"done": True})
    >>> # b.handle.wait("local")
"""

from __future__ import annotations

from collections.abc import Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any

from jazz_nb.errors import WriteError
from jazz_nb.store.versions import new_batch_id
from jazz_nb.writes.handle import WriteHandle
from jazz_nb.writes.writer import Writer

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

    def insert(self, table: Any, values: Mapping[str, Any], *, id: Any = None,
               updated_at: int | None = None) -> Row:
        """Stage an insert; returns the row as it will be stored."""
        version = self._check_open().insert(table, values, id=id, updated_at=updated_at)
        return self._db.row_of(version)

    def update(self, table: Any, row_id: Any, changes: Mapping[str, Any], *,
               updated_at: int | None = None) -> None:
        """Stage an update of ``row_id``."""
        self._check_open().update(table, row_id, changes, updated_at=updated_at)

    def upsert(self, table: Any, values: Mapping[str, Any], *, id: Any,
               updated_at: int | None = None) -> None:
        """Stage an upsert of ``id``."""
        self._check_open().upsert(table, values, id=id, updated_at=updated_at)

    def delete(self, table: Any, row_id: Any, *, updated_at: int | None = None) -> None:
        """Stage a soft delete of ``row_id``."""
        self._check_open().delete(table, row_id, updated_at=updated_at)

    def commit(self) -> WriteHandle:
        """Publish every staged write at once and return the batch's handle."""
        writer = self._check_open()
        self._open = False
        self.handle = self._db.commit(writer, check_conflicts=self.mode == "transactional")
        return self.handle

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
        return f"<{type(self).__name__} {self.batch_id[:12]}… {len(self._writer.staged)} " \
               f"writes, {state}>"


class Transaction(Batch):
    """An optimistic transaction: commit fails with ``TransactionConflict`` on a concurrent change.

    Example:
        >>> # with db.transaction() as tx:
        >>> #     tx.update(app.todos, row.id, {"done": True})
    """

    mode = "transactional"

    def _state(self) -> Any:
        return "VisibleTransactional"
