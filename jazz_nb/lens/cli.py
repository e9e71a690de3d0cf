"""``jazz-nb migrations snapshot | create | push`` (``add_migration_commands``), after Jazz's
``jazz-tools migrations create / push`` (§6.4).

* ``snapshot APP`` saves a schema version under ``migrations/snapshots/``;
* ``create --from A --to B [--name N]`` writes a reviewable migration module between two apps
  (each a snapshot hash prefix, ``module:attr`` or ``.json`` file) and snapshots both;
* ``push FILE... --server URL --app-id ID --admin-secret S`` publishes each module's lens (and
  its schemas); a draft is refused with its ambiguities.

Example:
    >>> parser = argparse.ArgumentParser()
    >>> add_migration_commands(parser.add_subparsers())
    >>> args = parser.parse_args(["migrations", "create", "--from", "be1bbcf4", "--to",
    ...                           "app:schema", "--name", "add priority"])
    >>> args.source, args.target, args.name
    ('be1bbcf4', 'app:schema', 'add priority')
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from jazz_nb.errors import JazzError


def _env(name: str, default: Any = None) -> Any:
    return os.environ.get(name, default)


def add_migration_commands(subparsers: Any) -> None:
    """Add ``migrations {snapshot,create,push}`` to an argparse subparsers object."""
    top = subparsers.add_parser("migrations", help="create and publish schema migrations",
                                description="Create, review and publish lenses between schema "
                                "versions.")
    commands = top.add_subparsers(dest="migrations_command", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--dir", type=Path, default=Path(_env("JAZZ_MIGRATIONS_DIR",
                                                              "migrations")),
                        help="migrations directory (default: ./migrations)")

    snapshot = commands.add_parser("snapshot", parents=[common], help="save a schema version")
    snapshot.add_argument("app", help="module:attr of the app (or a .json schema)")
    snapshot.set_defaults(func=_snapshot)

    create = commands.add_parser("create", parents=[common],
                                 help="write a migration module between two schema versions")
    create.add_argument("--from", dest="source", required=True,
                        help="the old schema: snapshot hash prefix, module:attr or .json")
    create.add_argument("--to", dest="target", required=True,
                        help="the new schema: snapshot hash prefix, module:attr or .json")
    create.add_argument("--name", default="unnamed")
    create.set_defaults(func=_create)

    push = commands.add_parser("push", help="publish migration modules to a sync server")
    push.add_argument("files", nargs="+", type=Path)
    push.add_argument("--app-id", default=_env("JAZZ_APP_ID"), required=not _env("JAZZ_APP_ID"))
    push.add_argument("--server", default=_env("JAZZ_SERVER_URL", "http://127.0.0.1:1625"))
    push.add_argument("--admin-secret", default=_env("JAZZ_ADMIN_SECRET"),
                      required=not _env("JAZZ_ADMIN_SECRET"))
    push.set_defaults(func=_push)


def _run(fn: Any) -> int:
    try:
        fn()
    except JazzError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


def _snapshot(args: argparse.Namespace) -> int:
    from jazz_nb.lens.files import load_app, write_snapshot

    return _run(lambda: print(write_snapshot(load_app(args.app, args.dir), args.dir)))


def _create(args: argparse.Namespace) -> int:
    from jazz_nb.lens.files import create_migration, load_app, load_migration

    def run() -> None:
        old, new = load_app(args.source, args.dir), load_app(args.target, args.dir)
        path = create_migration(old, new, args.dir, args.name)
        print(path)
        lens = load_migration(path)
        for ambiguity in lens.ambiguities:
            print(f"draft: {ambiguity}", file=sys.stderr)

    return _run(run)


def _push(args: argparse.Namespace) -> int:
    from jazz_nb.lens.files import load_migration
    from jazz_nb.lens.publish import publish_migration

    def run() -> None:
        for path in args.files:
            lens = load_migration(path)
            answer = publish_migration(args.server, args.app_id, lens,
                                       admin_secret=args.admin_secret)
            print(f"published {lens.label} ({answer.get('objectId')})")

    return _run(run)
