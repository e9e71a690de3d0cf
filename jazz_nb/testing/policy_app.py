"""``PolicyTestApp``: test permissions the way Jazz's ``createPolicyTestApp`` does (§9.2).

An in-memory db with the bundle loaded. ``seed(fn)`` writes as the unscoped backend (policies
do not apply); ``as_(session)`` returns a session-scoped db whose ``expect_allowed(fn)`` /
``expect_denied(fn)`` run ``fn(batch)`` in a batch that is always rolled back. Reads are asserted
on the rows the scoped db returns (denied reads are filtered, not raised).

Example:
    >>> from jazz_nb import s
    >>> from jazz_nb.policy import define_permissions
    >>> app = s.define_app({"notes": s.table(body=s.string())})
    >>> perms = define_permissions(app, lambda policy: policy.notes.managed_by_creator())
    >>> with PolicyTestApp(app, perms) as t:
    ...     note = t.seed(lambda db: db.insert(app.notes, {"body": "hi"}))
    ...     bob = t.as_("bob")
    ...     err = bob.expect_denied(lambda b: b.update(app.notes, note.id, {"body": "x"}))
    ...     _ = bob.expect_allowed(lambda b: b.insert(app.notes, {"body": "mine"}))
    ...     len(bob.all(app.notes)), len(t.db.all(app.notes))
    (0, 1)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from jazz_nb.auth.session import AuthMode, Session
from jazz_nb.db import Db, create_db
from jazz_nb.errors import PolicyDenied
from jazz_nb.schema.app import App
from jazz_nb.writes.batch import Batch

T = TypeVar("T")


class PolicyTestDb(Db):
    """A session-scoped db with write expectations (use ``PolicyTestApp.as_``)."""

    def _attempt(self, fn: Callable[[Batch], T]) -> T:
        batch = self.batch()
        try:
            return fn(batch)
        finally:
            batch.rollback()

    def allowed(self, fn: Callable[[Batch], Any]) -> bool:
        """Whether ``fn(batch)`` passes the policies (nothing is kept) — for policy matrices.

        Example: ``{user: t.as_(user).allowed(lambda b: b.delete(app.todos, todo.id)) for ...}``
        """
        try:
            self._attempt(fn)
        except PolicyDenied:
            return False
        return True

    def expect_allowed(self, fn: Callable[[Batch], T]) -> T:
        """Run ``fn(batch)``; fail if a write is denied. Nothing is kept.

        Example: ``alice.expect_allowed(lambda b: b.insert(app.todos, {"title": "x"}))``
        """
        try:
            return self._attempt(fn)
        except PolicyDenied as err:
            raise AssertionError(f"expected {self._who()} to be allowed, but: {err}") from err

    def expect_denied(self, fn: Callable[[Batch], Any]) -> PolicyDenied:
        """Run ``fn(batch)``; fail unless a write raises ``PolicyDenied`` (returned). Nothing is
        kept.

        Example: ``err = bob.expect_denied(lambda b: b.delete(app.todos, todo.id))``
        """
        try:
            self._attempt(fn)
        except PolicyDenied as err:
            return err
        raise AssertionError(f"expected {self._who()} to be denied, but the writes were allowed")

    def _who(self) -> str:
        return f"session {self.session.user_id!r}" if self.session else "the unscoped db"


class PolicyTestApp:
    """An in-memory db with ``permissions`` loaded, for permission tests."""

    def __init__(self, app: App, permissions: Any, *, app_id: str = "policy-test") -> None:
        self.app = app
        self.db = create_db(app, app_id=app_id, permissions=permissions)

    def seed(self, fn: Callable[[Db], T]) -> T:
        """Run ``fn(db)`` as the unscoped backend (bypasses policies); returns its result."""
        return fn(self.db)

    def as_(self, session: Session | str, claims: Mapping[str, Any] | None = None,
            auth_mode: AuthMode = "external") -> PolicyTestDb:
        """A db scoped to ``session`` (or to a user id with ``claims`` and ``auth_mode``)."""
        if isinstance(session, str):
            session = Session(session, dict(claims or {}), auth_mode)
        if not isinstance(session, Session):
            raise TypeError("as_ takes a jz.Session or a user id")
        return PolicyTestDb(self.app, self.db.engine, session)

    def close(self) -> None:
        """Close the database."""
        self.db.close()

    def __enter__(self) -> PolicyTestApp:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
