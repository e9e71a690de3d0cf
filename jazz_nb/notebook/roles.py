"""Explore permissions by switching roles: ``jz.widgets.roles(db, sessions)``.

A row of role buttons, the live queries made with ``roles.live(query)`` (re-created for the
selected session on every switch) and the permission matrix of every role, the selected one
marked. ``%jazz as <user> [--claims JSON] [--auth-mode MODE]`` switches the most recently shown
switcher (adding the user if it is new) — see ``as_command``.

Example:
    >>> import jazz_nb as jz
    >>> from jazz_nb import s
    >>> from jazz_nb.policy import define_permissions
    >>> app = s.define_app({"notes": s.table(body=s.string())})
    >>> perms = define_permissions(app, lambda policy: policy.notes.managed_by_creator())
    >>> db = jz.create_db(app, app_id="roles-doc", permissions=perms)
    >>> _ = db.for_session(jz.Session("ann")).insert(app.notes, {"body": "hi"})
    >>> switcher = roles(db, [jz.Session("ann"), jz.Session("bob")])
    >>> notes = switcher.live(app.notes)
    >>> len(notes.df), len(switcher.select("bob") and notes.df)
    (1, 0)
    >>> db.close()
"""

from __future__ import annotations

import html
import json
import shlex
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar

import ipywidgets as widgets

from jazz_nb.auth.session import Session
from jazz_nb.errors import JazzError
from jazz_nb.notebook.html import frame_html
from jazz_nb.policy.matrix import permission_matrix

if TYPE_CHECKING:
    import pandas as pd

    from jazz_nb.db import Db
    from jazz_nb.live import LiveQuery

UNSCOPED = "unscoped"


def _named(sessions: Mapping[str, Session | None] | Iterable[Session]) -> dict[str, Session | None]:
    if isinstance(sessions, Mapping):
        named = dict(sessions)
    else:
        named = {}
        for session in sessions:
            if not isinstance(session, Session):
                raise TypeError("roles takes jz.Session objects or a {name: Session} dict")
            named[session.user_id] = session
    if not named:
        raise JazzError("roles needs at least one session")
    return named


class RoleView:
    """One live query of a ``RoleSwitcher``: follows the selected role; displays as a widget."""

    def __init__(self, switcher: RoleSwitcher, query: Any) -> None:
        self.switcher = switcher
        self.query = query
        self.output = widgets.Output()
        self.live: LiveQuery = switcher.db.live(query)
        self._render()

    @property
    def df(self) -> pd.DataFrame:
        """The current role's live frame."""
        return self.live.df

    def rebind(self, db: Db) -> None:
        """Re-create the live query for ``db`` (another session's view)."""
        self.live.close()
        self.live = db.live(self.query)
        self._render()

    def _render(self) -> None:
        self.live.on_change(lambda *_: self._show())
        self._show()

    def _show(self) -> None:
        self.output.outputs = ()
        self.output.append_display_data(self.live.df)

    def close(self) -> None:
        """Stop following changes."""
        self.live.close()

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.output)


class RoleSwitcher:
    """Role buttons, the role's live queries and the permission matrix (see module docs)."""

    active: ClassVar[RoleSwitcher | None] = None

    def __init__(self, db: Db, sessions: Mapping[str, Session | None] | Iterable[Session], *,
                 matrix: bool = True) -> None:
        self.base = db
        self.sessions = _named(sessions)
        self.views: list[RoleView] = []
        self.show_matrix = matrix
        self.buttons = widgets.ToggleButtons(options=list(self.sessions), description="Role")
        self.who = widgets.HTML()
        self.matrix = widgets.HTML()
        self.box = widgets.VBox([self.buttons, self.who, self.matrix])
        self._db = self._view(self.buttons.value)
        self.buttons.observe(lambda change: self._switch(change["new"]), names="value")
        self.refresh()
        RoleSwitcher.active = self

    # -- selection ----------------------------------------------------------------------------
    @property
    def current(self) -> str:
        """The selected role's name."""
        return str(self.buttons.value)

    @property
    def session(self) -> Session | None:
        """The selected session (``None``: the unscoped db)."""
        return self.sessions[self.current]

    @property
    def db(self) -> Db:
        """The db scoped to the selected session."""
        return self._db

    def _view(self, name: str) -> Db:
        session = self.sessions[name]
        return self.base.for_session(session) if session is not None else self.base.unscoped()

    def select(self, name: str) -> Db:
        """Switch to role ``name`` (as clicking its button does); returns its db."""
        if name not in self.sessions:
            raise JazzError(f"unknown role {name!r} (roles: {', '.join(self.sessions)})")
        self.buttons.value = name  # observers call _switch
        return self._db

    def add(self, name: str, session: Session | None) -> None:
        """Add (or replace) a role."""
        self.sessions[name] = session
        if name not in self.buttons.options:
            self.buttons.options = (*self.buttons.options, name)
        elif name == self.current:
            self._switch(name)

    def _switch(self, name: str) -> None:
        self._db = self._view(name)
        for view in self.views:
            view.rebind(self._db)
        self.refresh()

    # -- content -----------------------------------------------------------------------------
    def live(self, query: Any) -> RoleView:
        """A live query that follows the selected role; display it in a cell."""
        view = RoleView(self, query)
        self.views.append(view)
        return view

    def permission_matrix(self) -> pd.DataFrame:
        """The matrix of every role (rows: table × operation)."""
        return permission_matrix(self.base, self.sessions)

    def refresh(self) -> None:
        """Redraw the session line and the matrix."""
        session = self.session
        if session is None:
            self.who.value = "<b>unscoped</b> (backend: no policy applies)"
        else:
            claims = html.escape(json.dumps(session.claims)) if session.claims else "no claims"
            self.who.value = (f"<b>{html.escape(session.user_id)}</b> "
                              f"({html.escape(session.auth_mode)}, {claims})")
        if self.show_matrix:
            self.matrix.value = frame_html(self.permission_matrix(), current=self.current)

    def close(self) -> None:
        """Close every live query of the switcher."""
        for view in self.views:
            view.close()
        if RoleSwitcher.active is self:
            RoleSwitcher.active = None

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.box)


def roles(db: Db, sessions: Mapping[str, Session | None] | Iterable[Session], *,
          matrix: bool = True) -> RoleSwitcher:
    """``jz.widgets.roles(db, sessions)``: switch the session behind live queries.

    ``sessions`` is a list of ``jz.Session`` (named by user id) or a ``{name: Session}`` dict
    (``None`` = the unscoped db). Example: ``r = jz.widgets.roles(db, [alice, bob]); r``
    """
    return RoleSwitcher(db, sessions, matrix=matrix)


def as_command(line: str) -> Db:
    """The ``%jazz as <user> [--claims JSON] [--auth-mode MODE]`` subcommand.

    Switches the most recent role switcher to ``user`` (added if new, or replaced when claims
    are given) and returns its db.

    Example:
        >>> # %jazz as bob --claims '{"role": "manager"}'
    """
    switcher = RoleSwitcher.active
    if switcher is None:
        raise JazzError("%jazz as: show a role switcher first: jz.widgets.roles(db, sessions)")
    args = shlex.split(line)
    if not args or args[0].startswith("--"):
        raise JazzError("usage: %jazz as <user> [--claims JSON] [--auth-mode MODE]")
    user, options = args[0], dict(zip(args[1::2], args[2::2], strict=False))
    unknown = set(options) - {"--claims", "--auth-mode"} or (len(args) % 2 == 0 and {args[-1]})
    if unknown:
        raise JazzError(f"%jazz as: unknown option(s) {sorted(unknown)} "
                        "(options: --claims JSON, --auth-mode MODE)")
    if "--claims" in options or "--auth-mode" in options or user not in switcher.sessions:
        try:
            claims = json.loads(options.get("--claims", "{}"))
            session = Session.from_json({"user_id": user, "claims": claims,
                                         "authMode": options.get("--auth-mode", "external")})
        except ValueError as err:
            raise JazzError(f"%jazz as {user}: --claims must be a JSON object and --auth-mode "
                            f"one of external, local-first, anonymous ({err})") from None
        switcher.add(user, session)
    return switcher.select(user)
