"""Turning insert/update/upsert/delete calls into row versions of one batch (§4.1–4.2).

A ``Writer`` stages versions keyed by ``(table, row_id)``: a row written twice in one batch keeps
one version with the frozen pre-batch parents. ``Db`` commits single writes at once; ``Batch`` and
``Transaction`` commit when their ``with`` block ends.

Example:
    >>> # with db.batch() as b:
    >>> #     b.insert(app.todos, {"title": "a"}); b.insert(app.todos, {"title": "b"})
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Collection, Mapping
from typing import TYPE_CHECKING, Any, Literal

from jazz_nb.errors import WriteError
from jazz_nb.store.versions import RowState, RowVersion, VisibleRow, is_canonical_id, new_row_id
from jazz_nb.writes.values import insert_values, update_values

if TYPE_CHECKING:
    from jazz_nb.db import Db

Operation = Literal["insert", "update", "delete"]
Authorizer = Callable[[Operation, str, VisibleRow | None, dict[str, Any] | None, str], None]


def table_name(table: Any) -> str:
    """The table a write targets: a table handle (``app.todos``) or its name."""
    if isinstance(table, str):
        return table
    name = getattr(table, "table", None)
    if isinstance(name, str):
        return name
    raise WriteError(f"expected a table handle such as app.todos, got {type(table).__name__}")


def row_id_of(value: Any, table: str) -> str:
    """A row id in canonical text form, or a ``WriteError`` naming the table.

    Example:
        >>> row_id_of("0190AAAA-0000-7000-8000-000000000001", "todos")
        '0190aaaa-0000-7000-8000-000000000001'
    """
    if is_canonical_id(value):
        return value
    try:
        return str(value if isinstance(value, uuid.UUID) else uuid.UUID(str(value)))
    except ValueError:
        raise WriteError(f"row id {value!r} for table {table!r} is not a UUID",
                         table=table) from None


class Writer:
    """Stages the versions of one batch; reads its own staged rows before the store's."""

    def __init__(self, db: Db, batch_id: str, state: RowState) -> None:
        self.db = db
        self.batch_id = batch_id
        self.state = state
        self._author = db.author
        self._branch = db.branch_key
        self.staged: dict[tuple[str, str], RowVersion] = {}
        self.known: dict[tuple[str, str], VisibleRow | None] = {}  # prefetched store rows
        self.only_new_rows = True  # every version is an insert under a freshly generated id

    # -- reading what a write builds on -------------------------------------------------------
    def current(self, table: str, row_id: str) -> VisibleRow | None:
        """The row as this batch sees it: its own staged version, else the store's."""
        key = (table, row_id)
        staged = self.staged.get(key)
        if staged is not None:
            return VisibleRow(table, row_id, staged.data, staged.created_by, staged.created_at,
                              staged.updated_by, staged.updated_at, staged.batch_id,
                              (staged.batch_id,), staged.delete_kind)
        if key in self.known:
            return self.known[key]
        return self.db.current_rows(table, [row_id]).get(row_id)

    def know(self, table: str, row_ids: Collection[str], found: Mapping[str, VisibleRow]) -> None:
        """Remember the store rows of ``row_ids`` read in one go (``found``; missing ids absent)
        for the writes about to be staged."""
        self.known.update(((table, row_id), found.get(row_id)) for row_id in row_ids)

    def _stage(self, table: str, row_id: str, data: dict[str, Any], base: VisibleRow | None,
               updated_at: int | None, delete_kind: str | None = None) -> RowVersion:
        """Stage the batch's version of a row built on ``base`` (``None``: a new row); a row
        written again in this batch keeps its pre-batch parents and creation stamp."""
        now = self.db.clock.now() if updated_at is None else int(updated_at)
        key = (table, row_id)
        previous = self.staged.get(key)
        if previous is not None:
            parents, created_by, created_at = (previous.parents, previous.created_by,
                                               previous.created_at)
        elif base is not None:
            parents, created_by, created_at = base.frontier, base.created_by, base.created_at
        else:
            parents, created_by, created_at = (), self._author, now
        version = RowVersion(table, row_id, self.batch_id, parents, now, created_by, created_at,
                             self._author, data, self.state, None,
                             delete_kind, self._branch)  # type: ignore[arg-type]
        self.staged[key] = version
        return version

    # -- operations -------------------------------------------------------------------------------
    def insert(self, table: Any, values: Mapping[str, Any], *, id: Any = None,
               updated_at: int | None = None) -> RowVersion:
        """Stage a new row (UUIDv7 id unless ``id`` is given)."""
        name = table_name(table)
        data = insert_values(name, self.db.app.table(name), values)
        if id is None:
            row_id = new_row_id()
        else:
            row_id = row_id_of(id, name)
            self.only_new_rows = False
            existing = self.current(name, row_id)
            if existing is not None:
                what = "row already deleted" if existing.is_deleted else "object already exists"
                raise WriteError(f"{what}: {row_id} in table {name!r}", table=name)
        self.db.authorize("insert", name, None, data, row_id)
        return self._stage(name, row_id, data, None, updated_at)

    def _existing(self, name: str, row_id: str) -> VisibleRow:
        base = self.current(name, row_id)
        if base is None:
            raise WriteError(f"row not found: {row_id} in table {name!r}", table=name)
        if base.is_deleted:
            raise WriteError(f"row already deleted: {row_id} in table {name!r}", table=name)
        return base

    def update(self, table: Any, row_id: Any, changes: Mapping[str, Any], *,
               updated_at: int | None = None) -> RowVersion:
        """Stage a new version: the current row with ``changes`` applied."""
        name = table_name(table)
        changed = update_values(name, self.db.app.table(name), changes)
        return self.update_stored(name, row_id_of(row_id, name), changed, updated_at=updated_at)

    def update_stored(self, name: str, row_id: str, changed: dict[str, Any], *,
                      updated_at: int | None = None) -> RowVersion:
        """``update`` with changes already checked and in storage form (``update_values``)."""
        self.only_new_rows = False
        base = self._existing(name, row_id)
        data = {**base.data, **changed}
        self.db.authorize("update", name, base, data, row_id)
        return self._stage(name, row_id, data, base, updated_at)

    def upsert(self, table: Any, values: Mapping[str, Any], *, id: Any,
               updated_at: int | None = None) -> RowVersion:
        """Update the row ``id`` if it is visible, else insert it with that id."""
        name = table_name(table)
        row_id = row_id_of(id, name)
        base = self.current(name, row_id)
        if base is not None and not base.is_deleted:
            return self.update(name, row_id, values, updated_at=updated_at)
        return self.insert(name, values, id=row_id, updated_at=updated_at)

    def delete(self, table: Any, row_id: Any, *, updated_at: int | None = None) -> RowVersion:
        """Stage a soft delete (the body is kept in history)."""
        name = table_name(table)
        row_id = row_id_of(row_id, name)
        self.only_new_rows = False
        base = self._existing(name, row_id)
        self.db.authorize("delete", name, base, None, row_id)
        return self._stage(name, row_id, dict(base.data), base, updated_at, "soft")
