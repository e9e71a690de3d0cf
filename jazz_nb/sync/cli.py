"""``jazz-nb server`` and ``jazz-nb deploy``: the sync subcommands (``add_sync_commands``).

Flags follow ``jazz-tools server``; each may also come from the environment (``JAZZ_PORT``,
``JAZZ_DATA_DIR``, ``JAZZ_ADMIN_SECRET``, ``JAZZ_BACKEND_SECRET``, ``JAZZ_JWKS_URL``,
``JAZZ_JWT_PUBLIC_KEY``, ``JAZZ_SERVER_URL``, ``JAZZ_APP_ID``, ``JAZZ_NO_ANONYMOUS``), and so
may every limit of ``ServerConfig`` (``--max-subscriptions`` / ``JAZZ_MAX_SUBSCRIPTIONS``, ...).
Once listening, the server prints one JSON line ``{"event": "listening", "port": ..., "url":
...}`` on stdout; a server that cannot start (its data dir held by another server, its port
taken) prints one line on stderr and exits with code 1. ``jazz-nb server status`` and
``jazz-nb server stop`` report on and stop the embedded per-user server (``status`` and
``stop`` are therefore not app ids here; serve such an app with ``JAZZ_APP_ID``).

Example:
    >>> parser = argparse.ArgumentParser()
    >>> add_sync_commands(parser.add_subparsers())
    >>> args = parser.parse_args(["server", "--port", "0", "--in-memory"])
    >>> args.port, args.in_memory
    (0, True)
    >>> parser.parse_args(["server", "status"]).app_id
    'status'
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from jazz_nb.errors import JazzError


def _env(name: str, default: Any = None) -> Any:
    return os.environ.get(name, default)


LIMIT_HELP = {
    "max_frame_bytes": "bytes of one WebSocket message (compressed)",
    "max_decompressed_bytes": "bytes of one Arrow segment after decompression",
    "max_batch_parts": "parts of one multi-part batch",
    "max_batch_bytes": "bytes of one batch over its parts",
    "max_pending_batches": "unfinished multi-part batches per connection",
    "max_subscriptions": "subscriptions per connection",
    "max_query_depth": "include nesting of a query",
    "max_query_includes": "includes of one query",
    "max_query_bytes": "bytes of a subscribe message's query",
    "handshake_seconds": "seconds from the WebSocket upgrade to the hello",
    "heartbeat_seconds": "seconds between heartbeats (a peer silent for 3 is dropped)",
    "http_head_seconds": "seconds for a request head to arrive (else 408)",
    "http_body_seconds": "seconds for a request body to arrive (else 408)",
    "max_connections": "concurrent sockets; more are answered 503",
}
"""One ``--flag`` (``$JAZZ_FLAG``) per ``ServerConfig`` limit; the default is the field's."""
COMMANDS = ("status", "stop")  # ``jazz-nb server status|stop``: the embedded server


def add_sync_commands(subparsers: Any) -> None:
    """Add ``server`` and ``deploy`` to an argparse subparsers object."""
    from jazz_nb.sync.server import LIMITS, ServerConfig

    assert set(LIMITS) == set(LIMIT_HELP), "every ServerConfig limit needs a flag"
    server = subparsers.add_parser(
        "server", help="run a Jazz sync server (or: server status|stop, the embedded one)",
        description="Run a Jazz sync server (WebSocket + HTTP). `jazz-nb server status` and "
                    "`jazz-nb server stop` report on and stop this user's embedded server.")
    server.add_argument("app_id", nargs="?", default=None, metavar="APP_ID|status|stop",
                        help="serve only this app id (default: any, or $JAZZ_APP_ID); "
                             "'status'/'stop' act on the embedded server")
    server.add_argument("-p", "--port", type=int, default=int(_env("JAZZ_PORT", 1625)))
    server.add_argument("--host", default=_env("JAZZ_HOST", "127.0.0.1"))
    server.add_argument("-d", "--data-dir", type=Path, default=Path(_env("JAZZ_DATA_DIR",
                                                                         "./data")))
    server.add_argument("--in-memory", action="store_true", help="keep nothing on disk")
    server.add_argument("--admin-secret", default=_env("JAZZ_ADMIN_SECRET"))
    server.add_argument("--backend-secret", default=_env("JAZZ_BACKEND_SECRET"))
    server.add_argument("--allow-local-first-auth", action=argparse.BooleanOptionalAction,
                        default=None, help="accept self-signed local-first tokens (default: "
                        "on unless JAZZ_ENV/NODE_ENV is production)")
    server.add_argument("--no-anonymous", action="store_true",
                        default=_env("JAZZ_NO_ANONYMOUS", "") not in ("", "0", "false"),
                        help="refuse Jazz anonymous tokens (default: accept; $JAZZ_NO_ANONYMOUS)")
    keys = server.add_mutually_exclusive_group()
    keys.add_argument("--jwks-url", default=_env("JAZZ_JWKS_URL"))
    keys.add_argument("--jwt-public-key", default=_env("JAZZ_JWT_PUBLIC_KEY"))
    defaults = ServerConfig()
    limits = server.add_argument_group("limits", "each also from $JAZZ_<NAME>, e.g. "
                                                 "$JAZZ_MAX_SUBSCRIPTIONS")
    for name in LIMITS:
        default = getattr(defaults, name)
        env = _env(f"JAZZ_{name.upper()}")
        kind = type(default)
        limits.add_argument(f"--{name.replace('_', '-')}", type=kind,
                            metavar="SECONDS" if kind is float else "N",
                            default=kind(env) if env is not None else default,
                            help=f"{LIMIT_HELP[name]} (default: {default})")
    server.add_argument("--parent-fd", type=int, default=None, help=argparse.SUPPRESS)
    server.set_defaults(func=_server)

    deploy = subparsers.add_parser("deploy", help="publish a schema and permissions",
                                   description="Publish module:app (and its permissions).")
    deploy.add_argument("target", help="module:attribute of the app (s.define_app)")
    deploy.add_argument("--app-id", default=_env("JAZZ_APP_ID"), required=not _env("JAZZ_APP_ID"))
    deploy.add_argument("--server", default=_env("JAZZ_SERVER_URL", "http://127.0.0.1:1625"))
    deploy.add_argument("--admin-secret", default=_env("JAZZ_ADMIN_SECRET"),
                        required=not _env("JAZZ_ADMIN_SECRET"))
    deploy.add_argument("--permissions", default=None,
                        help="module:attribute of the permissions (default: the app module's "
                        "'permissions' if it has one)")
    deploy.set_defaults(func=_deploy)


def server_config(args: argparse.Namespace) -> Any:
    """The ``ServerConfig`` of parsed ``jazz-nb server`` arguments.

    Example:
        >>> parser = argparse.ArgumentParser()
        >>> add_sync_commands(parser.add_subparsers())
        >>> args = parser.parse_args(["server", "--max-subscriptions", "5", "--no-anonymous"])
        >>> config = server_config(args)
        >>> config.max_subscriptions, config.allow_anonymous, config.max_connections
        (5, False, 1024)
    """
    from jazz_nb.auth.server_auth import AuthConfig
    from jazz_nb.sync.server import LIMITS, ServerConfig

    local_first = args.allow_local_first_auth
    if local_first is None:
        local_first = "production" not in (_env("JAZZ_ENV"), _env("NODE_ENV"))
    auth = AuthConfig(admin_secret=args.admin_secret, backend_secret=args.backend_secret,
                      allow_local_first_auth=local_first, jwks_url=args.jwks_url,
                      jwt_public_key=args.jwt_public_key)
    return ServerConfig(host=args.host, port=args.port, data_dir=args.data_dir,
                        in_memory=args.in_memory, app_id=args.app_id or _env("JAZZ_APP_ID"),
                        auth=auth, allow_anonymous=not args.no_anonymous,
                        **{name: getattr(args, name) for name in LIMITS})


def _server(args: argparse.Namespace) -> int:
    if args.app_id in COMMANDS:
        return _embedded_command(args.app_id)
    from jazz_nb.sync.server import listening_line, serve

    config = server_config(args)
    try:
        serve(config, announce=lambda port: print(listening_line(config, port), flush=True),
              parent_fd=args.parent_fd)
    except (JazzError, OSError) as err:  # a held data dir, a port in use: one line, exit 1
        print(f"jazz-nb server: {err}", file=sys.stderr)
        return 1
    return 0


def _embedded_command(command: str) -> int:
    """``status``: the embedded server's url, pid, data, uptime, health (exit 1 if none runs);
    ``stop``: stop it (exit 0 whether or not one ran)."""
    from jazz_nb.sync.process import default_server_dir, embedded_status, stop_embedded_server

    if command == "stop":
        pid = stop_embedded_server()
        print(f"stopped the embedded server (pid {pid})" if pid else
              f"no embedded server runs (state in {default_server_dir()})")
        return 0
    status = embedded_status()
    if status is None:
        print(f"no embedded server runs (state in {default_server_dir()})")
        return 1
    for key, value in status.items():
        print(f"{key}: {value}")
    return 0


def load_object(target: str) -> Any:
    """``module:attribute`` -> the object (the current directory is importable).

    Example:
        >>> load_object("jazz_nb.demo:demo_app").__name__
        'demo_app'
    """
    module_name, sep, attribute = target.partition(":")
    if not sep or not module_name or not attribute:
        raise JazzError(f"expected module:attribute, got {target!r}")
    if "" not in sys.path and os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    obj: Any = importlib.import_module(module_name)
    for part in attribute.split("."):
        obj = getattr(obj, part)
    return obj


def _deploy(args: argparse.Namespace) -> int:
    from jazz_nb.policy.bundle import Permissions
    from jazz_nb.schema.app import App
    from jazz_nb.sync.deploy import deploy

    app = load_object(args.target)
    if callable(app) and not isinstance(app, App):
        app = app()
    if not isinstance(app, App):
        raise JazzError(f"{args.target} is not an app made with s.define_app(...)")
    if args.permissions is not None:
        permissions = load_object(args.permissions)
    else:
        permissions = getattr(importlib.import_module(args.target.partition(":")[0]),
                              "permissions", None)
        permissions = permissions if isinstance(permissions, Permissions) else None
    result = deploy(args.server, args.app_id, admin_secret=args.admin_secret, app=app,
                    permissions=permissions)
    print(json.dumps({"schemaHash": result.schema_hash,
                      "permissionsHead": result.permissions_head}))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m jazz_nb.sync.cli server|deploy ...`` (how server processes are spawned)."""
    parser = argparse.ArgumentParser(prog="jazz-nb")
    add_sync_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
