"""``jazz-nb server`` and ``jazz-nb deploy``: the sync subcommands (``add_sync_commands``).

Flags follow ``jazz-tools server``; each may also come from the environment (``JAZZ_PORT``,
``JAZZ_DATA_DIR``, ``JAZZ_ADMIN_SECRET``, ``JAZZ_BACKEND_SECRET``, ``JAZZ_JWKS_URL``,
``JAZZ_JWT_PUBLIC_KEY``, ``JAZZ_SERVER_URL``, ``JAZZ_APP_ID``). Once listening, the server prints
one JSON line ``{"event": "listening", "port": ..., "url": ...}`` on stdout.

Example:
    >>> parser = argparse.ArgumentParser()
    >>> add_sync_commands(parser.add_subparsers())
    >>> args = parser.parse_args(["server", "--port", "0", "--in-memory"])
    >>> args.port, args.in_memory
    (0, True)
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


def add_sync_commands(subparsers: Any) -> None:
    """Add ``server`` and ``deploy`` to an argparse subparsers object."""
    server = subparsers.add_parser("server", help="run a Jazz sync server",
                                   description="Run a Jazz sync server (WebSocket + HTTP).")
    server.add_argument("app_id", nargs="?", default=_env("JAZZ_APP_ID"),
                        help="serve only this app id (default: any)")
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
    keys = server.add_mutually_exclusive_group()
    keys.add_argument("--jwks-url", default=_env("JAZZ_JWKS_URL"))
    keys.add_argument("--jwt-public-key", default=_env("JAZZ_JWT_PUBLIC_KEY"))
    server.add_argument("--max-frame-bytes", type=int, default=None)
    server.add_argument("--heartbeat-seconds", type=float, default=None)
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


def _server(args: argparse.Namespace) -> int:
    from jazz_nb.auth.server_auth import AuthConfig
    from jazz_nb.sync import protocol
    from jazz_nb.sync.server import ServerConfig, listening_line, serve

    local_first = args.allow_local_first_auth
    if local_first is None:
        local_first = "production" not in (_env("JAZZ_ENV"), _env("NODE_ENV"))
    auth = AuthConfig(admin_secret=args.admin_secret, backend_secret=args.backend_secret,
                      allow_local_first_auth=local_first, jwks_url=args.jwks_url,
                      jwt_public_key=args.jwt_public_key)
    config = ServerConfig(host=args.host, port=args.port, data_dir=args.data_dir,
                          in_memory=args.in_memory, app_id=args.app_id, auth=auth,
                          max_frame_bytes=args.max_frame_bytes or protocol.DEFAULT_MAX_FRAME_BYTES,
                          heartbeat_seconds=args.heartbeat_seconds or protocol.HEARTBEAT_SECONDS)
    if not args.in_memory:
        args.data_dir.mkdir(parents=True, exist_ok=True)
    serve(config, announce=lambda port: print(listening_line(config, port), flush=True))
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
