"""``jazz-nb identity new|show|phrase|restore``: manage a notebook's local-first identity.

The secret itself is printed only by ``new --print-secret``; ``phrase`` prints the recovery
phrase after a warning on stderr. ``restore`` reads a phrase from stdin (never from argv, so
it stays out of shell history).

Example:
    >>> import argparse
    >>> parser = argparse.ArgumentParser(prog="jazz-nb")
    >>> _ = add_identity_commands(parser.add_subparsers(dest="command"))
    >>> parser.parse_args(["identity", "show", "--app", "my-app"]).identity_command
    'show'
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from jazz_nb.auth._b64 import b64url_encode
from jazz_nb.auth.identity import generate_secret, public_key, user_id
from jazz_nb.auth.recovery import recovery_phrase, secret_from_recovery_phrase
from jazz_nb.auth.secret_store import SECRET_ENV, SecretStore
from jazz_nb.errors import AuthError

PHRASE_WARNING = (
    "WARNING: these 24 words ARE your identity for app {app!r} (user {user}).\n"
    "Anyone who sees them can act as you. Write them down offline; never paste them into a\n"
    "notebook, chat or ticket."
)


def add_identity_commands(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``identity`` with its subcommands on an argparse ``subparsers`` object.

    Each leaf sets ``func``; call ``args.func(args)`` to run it (returns an exit code).

    Example:
        >>> import argparse
        >>> parser = argparse.ArgumentParser()
        >>> _ = add_identity_commands(parser.add_subparsers())
        >>> parser.parse_args(["identity", "new", "--app", "a"]).print_secret
        False
    """
    identity = subparsers.add_parser("identity", help="local-first identity (secret) commands")
    commands = identity.add_subparsers(dest="identity_command", required=True)

    def leaf(name: str, help_text: str, func: Any) -> argparse.ArgumentParser:
        parser = commands.add_parser(name, help=help_text)
        parser.add_argument("--app", required=True, help="app id the identity belongs to")
        parser.add_argument("--secret-dir", default=None,
                            help="secret directory (default: $JAZZ_NB_SECRET_DIR or XDG data)")
        parser.set_defaults(func=func)
        return parser

    new = leaf("new", "create and save a new secret; print the user id", _cmd_new)
    new.add_argument("--print-secret", action="store_true", help="also print the secret")
    new.add_argument("--force", action="store_true", help="replace an existing secret")
    leaf("show", "print the user id and public key", _cmd_show)
    leaf("phrase", "print the 24-word recovery phrase", _cmd_phrase)
    restore = leaf("restore", "save the secret of a recovery phrase read from stdin",
                   _cmd_restore)
    restore.add_argument("--force", action="store_true", help="replace an existing secret")
    return identity


def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 1


def _store(args: argparse.Namespace) -> SecretStore:
    return SecretStore(args.secret_dir)


def _existing(store: SecretStore, app: str) -> str | None:
    secret = store.load(app)
    if secret is not None and store.environ.get(SECRET_ENV):
        raise AuthError("env-override", f"${SECRET_ENV} is set; unset it to manage stored secrets")
    return secret


def _save_new(args: argparse.Namespace, secret: str) -> int:
    store = _store(args)
    existing = _existing(store, args.app)
    if existing is not None and existing != secret and not args.force:
        return _fail(f"app {args.app!r} already has identity {user_id(existing)}; "
                     "use --force to replace it (the old identity is lost without its phrase)")
    path = store.save(args.app, secret)
    print(user_id(secret))
    print(f"saved to {path}", file=sys.stderr)
    return 0


def _cmd_new(args: argparse.Namespace) -> int:
    """Create, save and report a new identity."""
    secret = generate_secret()
    try:
        code = _save_new(args, secret)
    except AuthError as err:
        return _fail(str(err))
    if code == 0 and args.print_secret:
        print(secret)
    return code


def _loaded(args: argparse.Namespace) -> str:
    secret = _store(args).load(args.app)
    if secret is None:
        raise AuthError("missing", f"no identity for app {args.app!r}; run "
                        f"`jazz-nb identity new --app {args.app}`")
    return secret


def _cmd_show(args: argparse.Namespace) -> int:
    """Print app, user id and public key (base64url) of the stored identity."""
    try:
        secret = _loaded(args)
    except AuthError as err:
        return _fail(str(err))
    print(f"app:        {args.app}")
    print(f"user id:    {user_id(secret)}")
    print(f"public key: {b64url_encode(public_key(secret))}")
    return 0


def _cmd_phrase(args: argparse.Namespace) -> int:
    """Print the recovery phrase, after a warning on stderr."""
    try:
        secret = _loaded(args)
    except AuthError as err:
        return _fail(str(err))
    print(PHRASE_WARNING.format(app=args.app, user=user_id(secret)), file=sys.stderr)
    print(recovery_phrase(secret))
    return 0


def _cmd_restore(args: argparse.Namespace) -> int:
    """Read a recovery phrase from stdin and save its secret."""
    try:
        return _save_new(args, secret_from_recovery_phrase(sys.stdin.read()))
    except AuthError as err:
        return _fail(str(err))
