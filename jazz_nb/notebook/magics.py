"""The ``%jazz`` line magic: ``%jazz <subcommand> [args]``.

Subcommands live in a registry so later features plug in (``connect``, ``as``,
``migrations``...) with ``register_subcommand``. Built in:

* ``%jazz subscriptions [db]`` — the live queries of a db (a widget); ``db`` is a variable name,
  optional when the namespace holds exactly one ``Db``;
* ``%jazz help`` — the subcommands.

Example:
    >>> register_subcommand("hello", lambda shell, args: f"hi {args}", "say hello")
    >>> jazz_magic("hello you", shell=None)
    'hi you'
    >>> "subscriptions" in jazz_magic("help", shell=None)
    True
"""

from __future__ import annotations

import shlex
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from jazz_nb.errors import JazzError


@dataclass(frozen=True)
class Subcommand:
    """One ``%jazz`` subcommand: ``run(shell, args)`` and a one-line help."""

    name: str
    run: Callable[[Any, str], Any]
    help: str


SUBCOMMANDS: dict[str, Subcommand] = {}


def register_subcommand(name: str, run: Callable[[Any, str], Any], help: str) -> None:
    """Add (or replace) ``%jazz name``; ``run(shell, rest_of_line)`` returns what to show."""
    SUBCOMMANDS[name] = Subcommand(name, run, help)


def jazz_magic(line: str, shell: Any = None) -> Any:
    """Dispatch ``%jazz <subcommand> ...``."""
    name, _, rest = line.strip().partition(" ")
    name = name or "help"
    command = SUBCOMMANDS.get(name)
    if command is None:
        raise JazzError(f"unknown %jazz subcommand {name!r} (try: {', '.join(SUBCOMMANDS)})")
    return command.run(shell, rest.strip())


def _help(shell: Any, args: str) -> str:
    width = max(len(n) for n in SUBCOMMANDS)
    return "\n".join(f"%jazz {c.name.ljust(width)}  {c.help}" for c in SUBCOMMANDS.values())


def find_db(shell: Any, args: str) -> Any:
    """The ``Db`` named by ``args`` in the user namespace, or the only one there."""
    from jazz_nb.db import Db

    namespace = getattr(shell, "user_ns", None) or {}
    names = shlex.split(args)
    if names:
        if names[0] not in namespace:
            raise JazzError(f"%jazz: no variable {names[0]!r} in the namespace")
        db = namespace[names[0]]
        if not isinstance(db, Db):
            raise JazzError(f"%jazz: {names[0]!r} is a {type(db).__name__}, not a jazz_nb Db")
        return db
    dbs = {id(v): (k, v) for k, v in namespace.items()
           if isinstance(v, Db) and not k.startswith("_")}
    if len(dbs) != 1:
        found = ", ".join(sorted(k for k, _ in dbs.values())) or "none"
        raise JazzError(f"%jazz: name the db to use (Db variables found: {found})")
    return next(iter(dbs.values()))[1]


def _subscriptions(shell: Any, args: str) -> Any:
    from jazz_nb.notebook.widgets import subscriptions

    return subscriptions(find_db(shell, args))


register_subcommand("help", _help, "list the subcommands")
register_subcommand("subscriptions", _subscriptions,
                    "the live queries of a db: table, query, rows, last change, status, close")


def _as(shell: Any, args: str) -> Any:
    from jazz_nb.notebook.roles import as_command

    return as_command(args)


def _migrations(shell: Any, args: str) -> Any:
    from jazz_nb.notebook.migrations import migrations_command

    return migrations_command(shell, args)


def _connect(shell: Any, args: str) -> Any:
    from jazz_nb.sync.magic import connect_command

    return connect_command(args, getattr(shell, "user_ns", {}))


register_subcommand("as", _as,
                    "switch the role switcher's session: %jazz as <user> [--claims JSON]")
register_subcommand("migrations", _migrations, "schema versions, lens graph, lens workbench")
register_subcommand("connect", _connect, "connect to a sync server: [--server URL] [--app ID]")
