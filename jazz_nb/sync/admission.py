"""Admitting a peer's row versions on the server: engine columns, provenance and row policies.

Nothing a client sends about a version is taken on trust:

* **Engine columns.** Timestamps (``updated_at``, ``created_at``) lie between 2000-01-01 and
  the server's clock plus ``MAX_SKEW_SECONDS``; every parent is a version the server holds of
  that row; the tier is set by the server.
* **Provenance** (session writers). ``updated_by`` is the session's user; an insert's
  ``created_by`` too; a version over an existing row keeps the row's ``created_by``, and, if it
  names parents (it saw the row), its ``created_at``. A parentless version over an existing
  row (an upsert that did not know the row was there) may carry its own ``created_at``: the
  merge decides which one shows, as for any concurrent version.
* **Row policies** (session writers), under the permissions head's own schema: a version of
  another schema version is translated there through the lens path first (Jazz's "authorization
  schema"), so a renamed column is never read as NULL. Writing a deleted row again is an update
  of the row *as it was*: a hard-deleted row is judged on its last version before the delete. A
  soft delete that also changes values needs the update rules as well as the delete rules.

Trusted peers (admin, sessionless backend) skip provenance and policies, not engine columns.
Failures raise ``Rejected`` with a rejection code; the whole batch is rejected.

Example:
    >>> MIN_TIMESTAMP_US < 1_700_000_000_000_000 < now_us() + MAX_SKEW_SECONDS * 1_000_000
    True
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from jazz_nb.db import Db
from jazz_nb.engine import Engine
from jazz_nb.errors import JazzError, PolicyDenied
from jazz_nb.policy.check import check_write
from jazz_nb.policy.rows import StoreRows

if TYPE_CHECKING:
    from jazz_nb.auth.session import Session
    from jazz_nb.lens import Migrations
    from jazz_nb.policy.bundle import Permissions
    from jazz_nb.schema.app import App
    from jazz_nb.store.store import Store
    from jazz_nb.store.versions import RowVersion, VisibleRow
    from jazz_nb.sync.catalogue import Catalogue

MIN_TIMESTAMP_US = 946_684_800_000_000  # 2000-01-01T00:00:00Z
MAX_SKEW_SECONDS = 300
RowKey = tuple[str, str, str]  # (schema mark, table, row id)


class Rejected(JazzError):
    """A batch's fate is rejection with ``code`` (a ``protocol.REJECTION_CODES`` entry)."""


def now_us() -> int:
    """The server's clock in µs since the epoch.

    Example:
        >>> now_us() > MIN_TIMESTAMP_US
        True
    """
    return time.time_ns() // 1000


def _invalid(v: RowVersion, message: str) -> Rejected:
    return Rejected(f"row {v.row_id} of table {v.table!r}: {message}",
                    code="invalid_batch_submission")


def check_timestamps(v: RowVersion, now: int) -> None:
    """Refuse timestamps before 2000 or more than ``MAX_SKEW_SECONDS`` ahead of ``now``.

    Example:
        >>> from jazz_nb.store.versions import RowVersion
        >>> v = RowVersion("t", "r", "ab" * 16, (), 2**62, "u", 1, "u", {})
        >>> check_timestamps(v, now_us())  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        jazz_nb.sync.admission.Rejected: row r of table 't': updated_at 4611686018427387904 ...
    """
    latest = now + MAX_SKEW_SECONDS * 1_000_000
    for name, value in (("updated_at", v.updated_at), ("created_at", v.created_at)):
        if not MIN_TIMESTAMP_US <= value <= latest:
            raise _invalid(v, f"{name} {value} is outside [2000-01-01, server time + "
                              f"{MAX_SKEW_SECONDS} s] (µs since the epoch)")


class Admission:
    """The checks of one app's server (see the module); ``check`` judges one version."""

    def __init__(self, engine: Engine, catalogue: Catalogue,
                 permissions: Callable[[App], Permissions]) -> None:
        self.engine = engine
        self.store: Store = engine.store
        self.migrations: Migrations = engine.migrations
        self.catalogue = catalogue
        self.permissions = permissions

    def check(self, v: RowVersion, old: VisibleRow | None, session: Session | None,
              seen: set[str], now: int) -> RowVersion:
        """Admit one version written over ``old`` (the server's row, ``None`` if new) by
        ``session`` (``None``: a trusted peer); ``seen`` holds batch ids of this row already
        admitted in the same run. Returns the version as stored (tier set by the caller)."""
        check_timestamps(v, now)
        self._check_parents(v, old, seen)
        if session is not None:  # policies first: an honest write over an unseen row is denied
            self._authorize(v, old, session)
            self._check_provenance(v, old, session)
        return v

    # -- engine columns --------------------------------------------------------------------------
    def _check_parents(self, v: RowVersion, old: VisibleRow | None, seen: set[str]) -> None:
        parents = set(v.parents)
        known = set(old.frontier) if old is not None else set()
        if parents <= known | seen:
            return
        history = {h.batch_id for h in self.store.history(v.table, v.row_id,
                                                          schema_hash=v.schema_hash)}
        unknown = parents - known - seen - history
        if unknown:
            raise _invalid(v, f"parent version(s) {sorted(unknown)} are not versions of this "
                              "row on the server")

    @staticmethod
    def _check_provenance(v: RowVersion, old: VisibleRow | None, session: Session) -> None:
        user = session.user_id
        if v.updated_by != user:
            raise _invalid(v, f"updated_by {v.updated_by!r} is not the session's user {user!r}")
        if old is None and v.created_by != user:
            raise _invalid(v, f"an insert's created_by {v.created_by!r} is not the session's "
                              f"user {user!r}")
        if old is not None and v.created_by != old.created_by:
            raise _invalid(v, f"created_by {v.created_by!r} differs from the row's creator "
                              f"{old.created_by!r}")
        if old is not None and v.parents and v.created_at != old.created_at:
            raise _invalid(v, f"created_at {v.created_at} differs from the row's "
                              f"{old.created_at}")

    # -- policies --------------------------------------------------------------------------------
    def _authorize(self, v: RowVersion, old: VisibleRow | None, session: Session) -> None:
        if session.auth_mode == "anonymous":
            raise Rejected("anonymous sessions cannot write", code="anonymous_write_denied")
        op = "delete" if v.delete_kind else ("update" if old is not None or v.parents
                                             else "insert")
        if op != "insert" and old is None:
            raise Rejected(f"{op} of row {v.row_id} of table {v.table!r}, whose earlier "
                           "versions this server never accepted", code="permission_denied")
        base = self._as_it_was(v, old) if old is not None and old.delete_kind == "hard" else old
        checks = [(op, None if op == "delete" else v.data)]
        if op == "delete" and v.delete_kind == "soft" and base is not None and \
                v.data != base.data:
            checks.append(("update", v.data))  # a delete that also rewrites values
        head = self.catalogue.permissions()
        if head is None:
            raise Rejected("backend has no published permissions head; push permissions "
                           "before running session-scoped queries or writes against this "
                           "backend", code="permissions_head_missing")
        auth = self.catalogue.apps[head[0]]
        own = v.schema_hash or self.store.app.schema_hash
        for check_op, data in checks:
            table, old_row, new = self._in_schema(v, base, data, own, auth.schema_hash)
            db = Db(auth, self.engine, session, permissions=self.permissions(auth))
            rows = StoreRows(self.store, auth, db.compile_context().source)
            try:
                check_write(auth, db.permissions, session, rows, check_op, table,
                            old_row, new, v.row_id)
            except PolicyDenied as err:
                raise Rejected(str(err), code=err.code or "permission_denied") from None

    def _as_it_was(self, v: RowVersion, old: VisibleRow) -> VisibleRow:
        """A hard-deleted row as it was: its latest visible version before a delete."""
        kept = [h for h in self.store.history(v.table, v.row_id, schema_hash=v.schema_hash)
                if h.is_visible and h.delete_kind is None]
        if not kept:
            raise Rejected(f"row {v.row_id} of table {v.table!r} was deleted and has no earlier "
                           "version to judge a new write on", code="permission_denied")
        last = max(kept, key=lambda h: h.order_key)
        return replace(old, data=last.data, delete_kind="hard")

    def _in_schema(self, v: RowVersion, old: VisibleRow | None, new: dict[str, Any] | None,
                   source: str, target: str,
                   ) -> tuple[str, VisibleRow | None, dict[str, Any] | None]:
        """The version's table, old row and new values as schema ``target`` has them."""
        if source == target:
            return v.table, old, new
        graph = self.migrations.graph
        moved = graph.translate_row(source, target, v.table, new or {})
        if moved is None:
            raise Rejected(f"rows of table {v.table!r} in schema {source[:12]} cannot be "
                           f"checked: no lens path to the permissions' schema {target[:12]}",
                           code="permission_denied")
        table, data = moved
        if old is not None:
            translated = graph.translate_row(source, target, v.table, old.data)
            old = replace(old, table=table, data=translated[1] if translated else {})
        return table, old, None if new is None else data
