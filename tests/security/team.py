"""The app under attack: projects with members, todos inheriting from their project, notes.

Policies (``team_rules``): a project is read by its creator and its members; a membership is
added by the project's creator and read by the member and the creator; a todo is read, inserted
and updated by whoever can read its project (a todo without a project is public) and deleted
by its creator only, and may be blocked by another todo; a note is its creator's alone.

``Team`` is one deployed app id on a running server with three users (alice and bob, honest;
mallory, hostile), raw peers and honest clients for any of them, and ``assert_serving`` — the
check every attack ends with: the process is alive and a write of one bystander reaches another.

Example:
    >>> sorted(team_app().tables)
    ['members', 'notes', 'projects', 'todos']
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import jazz_nb as jz
from jazz_nb import s
from jazz_nb.policy import define_permissions
from jazz_nb.sync import connect, deploy
from jazz_nb.sync.process import LocalServer
from tests.security.peer import ADMIN, BACKEND, DEADLINE, Peer, User, alive, batch_frame, version


def team_app() -> s.App:
    """The schema every attack in this suite targets.

    Example:
        >>> list(team_app().table("todos").columns)[:3]
        ['title', 'done', 'priority']
    """
    return s.define_app({
        "projects": s.table(name=s.string()),
        "members": s.table(project_id=s.ref("projects"), user_id=s.string()),
        "todos": s.table(title=s.string(), done=s.boolean(default=False),
                         priority=s.int().optional(), project_id=s.ref("projects").optional(),
                         status=s.enum("open", "closed", default="open"),
                         meta=s.json().optional(), due=s.timestamp().optional(),
                         blocked_by_id=s.ref("todos").optional()),
        "notes": s.table(body=s.string()),
    })


def team_rules(policy: Any, session: Any, any_of: Any, allowed_to: Any, is_creator: Any) -> None:
    """Projects private to creator + members, todos inherit from their project, notes private.

    Example:
        >>> sorted(define_permissions(team_app(), team_rules).to_json())
        ['members', 'notes', 'projects', 'todos']
    """
    policy.projects.allow_read.where(lambda p: any_of(is_creator, policy.members.exists.where(
        {"project_id": p.id, "user_id": session.user_id})))
    policy.projects.allow_insert.always()
    policy.projects.allow_update.where(is_creator)
    policy.projects.allow_delete.where(is_creator)
    policy.members.allow_read.where(any_of({"user_id": session.user_id}, is_creator))
    policy.members.allow_insert.where(lambda m: policy.projects.exists.where(
        {"id": m.project_id, "$createdBy": session.user_id}))
    policy.members.allow_delete.where(is_creator)
    policy.todos.allow_read.where(allowed_to.read("project_id"))
    policy.todos.allow_insert.where(allowed_to.read("project_id"))
    policy.todos.allow_update.where(allowed_to.read("project_id"))
    policy.todos.allow_delete.where(is_creator)
    policy.notes.managed_by_creator()


def new_app_id(prefix: str = "sec") -> str:
    """A fresh app id (every test deploys its own).

    Example:
        >>> new_app_id("x").startswith("x-")
        True
    """
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


@dataclass
class Team:
    """One deployed app id: users, raw peers, honest clients and the serving check."""

    server: LocalServer
    app: s.App
    app_id: str
    alice: User = field(default_factory=lambda: User.named("alice"))
    bob: User = field(default_factory=lambda: User.named("bob"))
    mallory: User = field(default_factory=lambda: User.named("mallory"))
    _opened: list[jz.Db] = field(default_factory=list)
    _bystanders: tuple[jz.Db, jz.Db] | None = None
    _served: int = 0

    @classmethod
    def deploy(cls, server: LocalServer, app: s.App | None = None, rules: Any = team_rules,
               app_id: str | None = None) -> Team:
        """Deploy ``app`` with ``rules`` under a fresh app id."""
        app = app or team_app()
        app_id = app_id or new_app_id()
        deploy(server.url, app_id, admin_secret=ADMIN, app=app,
               permissions=define_permissions(app, rules))
        return cls(server, app, app_id)

    @contextlib.contextmanager
    def peer(self, user: User | None = None, *, auth: Any = None, **kw: Any) -> Iterator[Peer]:
        """A raw peer signed in as ``user`` (or with the given ``auth``)."""
        auth = auth or {"token": (user or self.mallory).token(self.app_id)}
        with Peer.open(self.server, self.app_id, self.app, auth, **kw) as peer:
            yield peer

    def client(self, user: User | None = None, **kw: Any) -> jz.Db:
        """An honest ``jz.connect`` client (closed with the team)."""
        kw.setdefault("secret", (user or User.named("someone")).secret)
        db = connect(kw.pop("app", self.app), app_id=self.app_id, server_url=self.server.url,
                     **kw)
        self._opened.append(db)
        return db

    def private_project(self, owner: User, name: str = "private") -> tuple[jz.Db, str]:
        """``owner``'s client and a project only ``owner`` can read (confirmed)."""
        db = self.client(owner)
        row = db.insert(self.app.projects, {"name": name}).wait("global", timeout=DEADLINE)
        return db, row.id

    def keep_engine_busy(self, busy: Peer, rows: int = 5000) -> str:
        """Hand the engine a big batch of ``busy``'s notes and return (its batch id) once the
        engine works on it: messages arriving next are handled together in its following
        turn. (The server answers a malformed text message on its network thread, in order,
        after it queued the batch for the engine.)"""
        author = busy.user_id or ""
        first = version(self.app, "notes", author, {"body": "busy"})
        versions = [first, *(version(self.app, "notes", author, {"body": "busy"},
                                     batch_id=first.batch_id) for _ in range(1, rows))]
        busy.send(batch_frame(self.app, versions, first.batch_id))
        busy.send("not json")
        assert busy.error()["code"] == "malformed_message"
        return first.batch_id

    def barrier(self, peer: Peer) -> None:
        """Wait until ``peer`` (subscribed to public todos) got a bystander's write made now:
        every delivery of earlier writes has reached it (one connection is ordered)."""
        writer = self._bystander_pair()[0]
        row = writer.insert(self.app.todos, {"title": "barrier"}).wait("global",
                                                                        timeout=DEADLINE)
        peer.wait_row(row.id)

    def _bystander_pair(self) -> tuple[jz.Db, jz.Db]:
        if self._bystanders is None:
            self._bystanders = (self.client(), self.client())
        return self._bystanders

    def assert_serving(self) -> None:
        """The server is alive, a write of one bystander reaches another bystander, and the
        server still holds every bystander write made so far."""
        assert alive(self.server), f"server died: exit code {self.server.process.returncode}"
        writer, reader = self._bystander_pair()
        self._served += 1
        marker = f"bystander write {self._served}"
        live = reader.live(self.app.todos.where(title=marker))
        row = writer.insert(self.app.todos, {"title": marker}).wait("global", timeout=DEADLINE)
        live.wait_for(lambda lq: row.id in lq.ids, timeout=DEADLINE)
        live.close()
        with self.peer(auth={"backend_secret": BACKEND}) as trusted:  # the server lost none
            query = self.app.todos.where(title={"contains": "bystander write"})
            assert trusted.subscribe(1, query.to_ir())["type"] == "settled"
            assert len({v.row_id for v in trusted.versions()}) == self._served

    def close(self) -> None:
        """Close every honest client."""
        for db in self._opened:
            db.close()
