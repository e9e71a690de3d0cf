"""The ``jazz-nb`` command line: ``demo``, ``server``, ``deploy``, ``identity``, ``migrations``.

Example:
    >>> # jazz-nb demo
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from jazz_nb.auth.cli import add_identity_commands
from jazz_nb.lens.cli import add_migration_commands
from jazz_nb.sync.cli import add_sync_commands


def _demo(_: argparse.Namespace) -> int:
    from jazz_nb import demo

    demo.run()
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand."""
    parser = argparse.ArgumentParser(prog="jazz-nb", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("demo", help="run the demo app in an embedded store").set_defaults(
        func=_demo)
    add_identity_commands(commands)
    add_migration_commands(commands)
    add_sync_commands(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``jazz-nb`` console script."""
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
