"""``%jazz connect [--server URL] [--app ID] [--schema NAME] [--as NAME] [--path FILE]``.

Connects the app defined in the notebook (the ``App`` named by ``--schema``, else the only one
in the namespace) and binds the db to ``--as`` (default ``db``); shows its status widget. With
no ``--server`` it uses the per-user embedded server; ``--app`` defaults to ``$JAZZ_APP_ID``,
else ``notebook``.

Example:
    >>> # %jazz connect --server ws://127.0.0.1:1625 --app my-app
"""

from __future__ import annotations

import argparse
import os
import shlex
from collections.abc import MutableMapping
from typing import Any

from jazz_nb.db import Db
from jazz_nb.errors import JazzError
from jazz_nb.schema.app import App
from jazz_nb.sync.connect import connect
from jazz_nb.sync.widget import status_widget

USAGE = "%jazz connect [--server URL] [--app ID] [--schema NAME] [--as NAME] [--path FILE]"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="%jazz connect", add_help=False, exit_on_error=False)
    parser.add_argument("--server", default=None)
    parser.add_argument("--app", default=None)
    parser.add_argument("--schema", default=None)
    parser.add_argument("--as", dest="name", default="db")
    parser.add_argument("--path", default=None)
    return parser


def find_app(namespace: MutableMapping[str, Any], name: str | None) -> App:
    """The app to connect: ``namespace[name]``, else the only ``App`` in the namespace.

    Example:
        >>> from jazz_nb import s
        >>> find_app({"app": s.define_app({"t": s.table(x=s.int())}), "n": 1}, None).tables
        ... # doctest: +ELLIPSIS
        {'t': ...}
    """
    if name is not None:
        app = namespace.get(name)
        if not isinstance(app, App):
            raise JazzError(f"%jazz connect: {name!r} is not an app made with s.define_app")
        return app
    apps = {id(v): v for k, v in namespace.items() if isinstance(v, App) and not
            k.startswith("_")}
    if len(apps) != 1:
        raise JazzError(f"%jazz connect: found {len(apps)} apps in the notebook; name one "
                        "with --schema NAME")
    return next(iter(apps.values()))


def connect_command(line: str, namespace: MutableMapping[str, Any]) -> Db:
    """Run ``%jazz connect`` with the rest of the ``line``; returns the connected db.

    Example:
        >>> # connect_command("--app my-app", get_ipython().user_ns)
    """
    try:
        args, extra = _parser().parse_known_args(shlex.split(line))
    except argparse.ArgumentError as err:
        raise JazzError(f"{err} (usage: {USAGE})") from None
    if extra:
        raise JazzError(f"%jazz connect: unknown argument(s) {extra} (usage: {USAGE})")
    app = find_app(namespace, args.schema)
    app_id = args.app or os.environ.get("JAZZ_APP_ID") or "notebook"
    db = connect(app, app_id=app_id, server_url=args.server, path=args.path)
    namespace[args.name] = db
    from IPython.display import display

    display(status_widget(db))
    return db
