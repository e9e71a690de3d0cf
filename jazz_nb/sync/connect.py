"""``jz.connect``: a ``Db`` whose local store syncs with a server (the embedded one by default).

Credentials, first match wins: ``token`` (a JWT: external, or a self-signed Jazz token);
``backend_secret`` (with ``session``: impersonation, policies apply to that session; without:
trusted backend); ``admin_secret``; else the local-first ``secret`` (default: this user's
per-app secret from ``jz.auth``), minting a fresh token at every (re)connect.

With no ``server_url`` the per-user embedded server is started or reused; ``connect`` then
publishes the app's schema and ``permissions`` to it (with no permissions and none published
yet it publishes "everyone may read and write" — a local dev server, not a deployment).

Example:
    >>> # db = jz.connect(app, app_id="my-app")                       # embedded server
    >>> # db = jz.connect(app, app_id="my-app", server_url="ws://127.0.0.1:4200", secret=s)
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from jazz_nb.auth._b64 import b64url_decode
from jazz_nb.auth.identity import user_id as user_id_of
from jazz_nb.auth.secret_store import get_or_create_secret
from jazz_nb.auth.session import Session
from jazz_nb.auth.tokens import ANONYMOUS_ISSUER, LOCAL_FIRST_ISSUER, mint_token
from jazz_nb.db import Db
from jazz_nb.engine import Engine
from jazz_nb.errors import AuthError
from jazz_nb.lens import Migrations
from jazz_nb.lens.publish import server_graph
from jazz_nb.policy import ir
from jazz_nb.policy.bundle import Permissions, TablePolicies
from jazz_nb.schema.app import App
from jazz_nb.store.store import Store
from jazz_nb.sync.client import SyncClient
from jazz_nb.sync.deploy import deploy, http_url
from jazz_nb.sync.process import embedded_server
from jazz_nb.writes.handle import TIER_RANK


def ws_url(url: str) -> str:
    """The ``ws(s)://`` form of a server URL.

    Example:
        >>> ws_url("http://127.0.0.1:4200/")
        'ws://127.0.0.1:4200'
    """
    return "ws" + http_url(url)[4:]


def allow_all(app: App) -> Permissions:
    """Permissions letting every session read and write every table (embedded dev server).

    Example:
        >>> from jazz_nb import s
        >>> allow_all(s.define_app({"t": s.table(x=s.int())})).table("t").insert_check
        Const(value=True)
    """
    rule = ir.TRUE
    return Permissions({name: TablePolicies(rule, rule, rule, rule, rule) for name in app.tables},
                       app)


def _token_session(token: str) -> Session:
    """The session a token will have on the server (its ``sub``; claims come from the server)."""
    try:
        payload = json.loads(b64url_decode(token.split(".")[1]))
        subject = payload["sub"]
    except (IndexError, KeyError, ValueError) as err:
        raise AuthError("malformed", f"token is not a JWT with a 'sub': {err}") from None
    issuer = payload.get("iss")
    mode = {LOCAL_FIRST_ISSUER: "local-first", ANONYMOUS_ISSUER: "anonymous"}.get(issuer,
                                                                                 "external")
    return Session(str(subject), {}, mode)  # type: ignore[arg-type]


def credentials(app_id: str, *, secret: Any = None, token: str | None = None,
                backend_secret: str | None = None, session: Session | None = None,
                admin_secret: str | None = None,
                ) -> tuple[Callable[[], dict[str, Any]], Session | None]:
    """``(auth for each hello, the db's session)`` for the given credentials.

    Example:
        >>> auth, session = credentials("app", backend_secret="be", session=Session("bob"))
        >>> sorted(auth()), session.user_id
        (['backend_secret', 'session'], 'bob')
    """
    if token is not None:
        return (lambda: {"token": token}), _token_session(token)
    if backend_secret is not None:
        extra = {"session": session.to_json()} if session is not None else {}
        return (lambda: {"backend_secret": backend_secret, **extra}), session
    if admin_secret is not None:
        return (lambda: {"admin_secret": admin_secret}), None
    secret = secret if secret is not None else get_or_create_secret(app_id)
    return ((lambda: {"token": mint_token(secret, app_id)}),
            Session(user_id_of(secret), {}, "local-first"))


class EmbeddedUrl:
    """Where the embedded server is now: ``embedded_url()`` returns its ``ws://`` URL, starting
    it if none runs, and deploys the app to a server it has not deployed it to yet (the schema,
    then ``permissions`` if given, else "everyone may read and write" if none are published).

    A db on the embedded server calls it before every reconnect (``SyncClient.find_url``), so
    a restarted server, on whatever port, is found again, and a stopped one is started.

    Example:
        >>> # find = EmbeddedUrl(app, "my-app"); find()  -> 'ws://127.0.0.1:41234'
    """

    def __init__(self, app: App, app_id: str, permissions: Any = None,
                 server_dir: str | None = None) -> None:
        self.app, self.app_id, self.permissions = app, app_id, permissions
        self.server_dir = server_dir
        self.pid: int | None = None  # the server process the app was deployed to

    def __call__(self) -> str:
        """The embedded server's URL (started and deployed to if needed)."""
        server = embedded_server(self.server_dir)
        if server.pid != self.pid:
            assert server.admin_secret is not None
            done = deploy(server.url, self.app_id, admin_secret=server.admin_secret,
                          app=self.app, permissions=self.permissions)
            if self.permissions is None and done.permissions_head is None:
                deploy(server.url, self.app_id, admin_secret=server.admin_secret, app=self.app,
                       permissions=allow_all(self.app))
            self.pid = server.pid
        return ws_url(server.url)


def connect(app: App, *, app_id: str, server_url: str | None = None, secret: Any = None,
            path: str | None = None, token: str | None = None,
            backend_secret: str | None = None, session: Session | None = None,
            admin_secret: str | None = None, permissions: Any = None,
            server_dir: str | None = None, timeout: float = 10.0, migrations: Any = None) -> Db:
    """A ``Db`` on a local store (in memory, or the DuckDB file ``path``) synced with a server.

    Returns once the first connection attempt ended: connected, or unreachable (the db works
    offline and keeps retrying). Refused credentials raise ``ProtocolError`` (``unauthenticated``).
    Without ``server_url`` the db follows the embedded server (``EmbeddedUrl``).

    Example:
        >>> # db = jz.connect(app, app_id="my-app", path="todo.duckdb")
    """
    if not isinstance(app, App):
        raise TypeError("connect takes an app from s.define_app(...)")
    find_url = None
    if server_url is None:
        find_url = EmbeddedUrl(app, app_id, permissions, server_dir)
        server_url = find_url()
    auth, db_session = credentials(app_id, secret=secret, token=token,
                                   backend_secret=backend_secret, session=session,
                                   admin_secret=admin_secret)
    engine = Engine(Store(app, path), app_id)
    engine.tracker.highest_reachable = TIER_RANK["global"]
    graph = server_graph(server_url, app_id, auth())  # schema versions + lenses (jazz_nb.lens)
    graph.add_schema(app)
    engine.migrations = Migrations(engine.store, graph)
    engine.migrations.add(*(migrations or ()))
    client = SyncClient(engine.store, app, app_id, ws_url(server_url), auth, engine.tracker,
                        user_id=db_session.user_id if db_session else None, find_url=find_url)
    client.migrations = engine.migrations
    engine.attach_sync(client)
    db = Db(app, engine, db_session)
    try:
        client.wait_first_attempt(timeout)
    except BaseException:
        db.close()
        raise
    return db
