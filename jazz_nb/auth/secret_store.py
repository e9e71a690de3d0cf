"""Where a notebook keeps its local-first secret: one 0600 file per app in a 0700 directory.

Directory, first match wins: the ``directory`` argument, ``$JAZZ_NB_SECRET_DIR``,
``$XDG_DATA_HOME/jazz_nb/secrets``, ``~/.local/share/jazz_nb/secrets``. ``$JAZZ_NB_SECRET``,
when set, is the secret for every app and nothing is read from or written to disk.

A secret never appears in a repr, a log record or an error message.

Example:
    >>> import tempfile
    >>> store = SecretStore(tempfile.mkdtemp(), environ={})
    >>> secret = store.get_or_create("my-app")
    >>> store.load("my-app") == secret, secret in repr(store)
    (True, False)
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import quote

from jazz_nb.auth.identity import Secret, decode_secret, encode_secret, generate_secret
from jazz_nb.errors import AuthError
from jazz_nb.userdirs import user_data_dir

SECRET_DIR_ENV = "JAZZ_NB_SECRET_DIR"
SECRET_ENV = "JAZZ_NB_SECRET"

log = logging.getLogger(__name__)


def default_secret_dir(environ: Mapping[str, str] | None = None) -> Path:
    """The secrets directory chosen from the environment (see the module docstring).

    Example:
        >>> default_secret_dir({"XDG_DATA_HOME": "/data"}).as_posix()
        '/data/jazz_nb/secrets'
        >>> default_secret_dir({"JAZZ_NB_SECRET_DIR": "/s", "XDG_DATA_HOME": "/data"}).as_posix()
        '/s'
    """
    return user_data_dir("secrets", SECRET_DIR_ENV, environ)


class SecretStore:
    """Per-app secrets on disk (files ``<app id>.secret``, mode 0600, directory 0700).

    ``environ`` defaults to ``os.environ`` and is read at each call, so the env overrides
    apply whenever they are set.

    Example:
        >>> import tempfile
        >>> store = SecretStore(tempfile.mkdtemp(), environ={})
        >>> store.load("my-app") is None
        True
    """

    def __init__(
        self, directory: str | os.PathLike[str] | None = None,
        *, environ: Mapping[str, str] | None = None,
    ) -> None:
        self._directory = None if directory is None else Path(directory).expanduser()
        self._environ = environ

    @property
    def environ(self) -> Mapping[str, str]:
        """The environment consulted for overrides.

        Example:
            >>> SecretStore("/tmp/x", environ={"A": "1"}).environ["A"]
            '1'
        """
        return os.environ if self._environ is None else self._environ

    @property
    def directory(self) -> Path:
        """The directory holding the secret files.

        Example:
            >>> SecretStore("/tmp/x").directory.as_posix()
            '/tmp/x'
        """
        return self._directory or default_secret_dir(self.environ)

    def __repr__(self) -> str:
        return f"SecretStore(directory={str(self.directory)!r})"

    def path(self, app_id: str) -> Path:
        """The file that holds ``app_id``'s secret (the app id is percent-encoded).

        Example:
            >>> SecretStore("/s").path("team/app").name
            'team%2Fapp.secret'
        """
        if not isinstance(app_id, str) or not app_id:
            raise AuthError("invalid-app-id", "an app id must be a non-empty string")
        return self.directory / f"{quote(app_id, safe='')}.secret"

    def _env_secret(self) -> str | None:
        value = self.environ.get(SECRET_ENV)
        if not value:
            return None
        try:
            return encode_secret(decode_secret(value))
        except AuthError:
            raise AuthError("invalid-secret", f"${SECRET_ENV} is not a valid secret") from None

    def load(self, app_id: str) -> str | None:
        """The saved secret of ``app_id`` (``$JAZZ_NB_SECRET`` first), or ``None``.

        Example:
            >>> SecretStore("/nonexistent", environ={}).load("my-app") is None
            True
        """
        path = self.path(app_id)
        env_secret = self._env_secret()
        if env_secret is not None:
            return env_secret
        try:
            text = path.read_text(encoding="ascii")
        except FileNotFoundError:
            return None
        except (OSError, UnicodeDecodeError) as err:
            raise AuthError(
                "invalid-secret", f"cannot read the secret of app {app_id!r} at {path}: "
                f"{type(err).__name__}"
            ) from None
        try:
            return encode_secret(decode_secret(text))
        except AuthError:
            raise AuthError(
                "invalid-secret", f"the file {path} for app {app_id!r} holds no valid secret"
            ) from None

    def save(self, app_id: str, secret: Secret) -> Path:
        """Write ``secret`` for ``app_id`` atomically (replacing any old one); return the path.

        Example:
            >>> import tempfile
            >>> store = SecretStore(tempfile.mkdtemp(), environ={})
            >>> oct(store.save("my-app", bytes(32)).stat().st_mode & 0o777)
            '0o600'
        """
        path = self.path(app_id)
        text = encode_secret(decode_secret(secret)) + "\n"
        tmp = self._write_private(path, text)
        os.replace(tmp, path)
        log.info("saved the local-first secret of app %r to %s", app_id, path)
        return path

    def get_or_create(self, app_id: str) -> str:
        """The secret of ``app_id``, generating and saving a new one the first time.

        Safe against a concurrent creator: if another process saved first, its secret wins.

        Example:
            >>> import tempfile
            >>> store = SecretStore(tempfile.mkdtemp(), environ={})
            >>> store.get_or_create("a") == store.get_or_create("a")
            True
        """
        existing = self.load(app_id)
        if existing is not None:
            return existing
        path = self.path(app_id)
        secret = generate_secret()
        tmp = self._write_private(path, secret + "\n")
        try:
            os.link(tmp, path)  # atomic, and fails if someone else created it meanwhile
        except FileExistsError:
            tmp.unlink()
            return self.load(app_id) or secret
        except OSError:  # file systems without hard links
            os.replace(tmp, path)
        else:
            tmp.unlink()
        log.info("created a local-first secret for app %r in %s", app_id, path)
        return secret

    def clear(self, app_id: str) -> bool:
        """Delete the saved secret of ``app_id``; return whether there was one.

        Example:
            >>> import tempfile
            >>> store = SecretStore(tempfile.mkdtemp(), environ={})
            >>> _ = store.get_or_create("a")
            >>> store.clear("a"), store.clear("a")
            (True, False)
        """
        path = self.path(app_id)
        try:
            path.unlink()
        except FileNotFoundError:
            return False
        log.info("deleted the local-first secret of app %r (%s)", app_id, path)
        return True

    def _write_private(self, path: Path, text: str) -> Path:
        directory = path.parent
        if not directory.is_dir():
            directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            os.chmod(directory, 0o700)  # mkdir's mode is subject to the umask
        elif os.name == "posix" and directory.stat().st_mode & 0o077:
            log.warning("secret directory %s is readable by other users", directory)
        tmp = directory / f".{path.name}.{os.getpid()}.{os.urandom(4).hex()}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w", encoding="ascii") as handle:
                handle.write(text)
                handle.flush()
                os.fsync(handle.fileno())
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return tmp


def get_or_create_secret(app_id: str, directory: str | os.PathLike[str] | None = None) -> str:
    """The local-first secret of ``app_id`` from the default store, created on first use.

    Example:
        >>> import tempfile
        >>> len(get_or_create_secret("my-app", tempfile.mkdtemp()))
        43
    """
    return SecretStore(directory).get_or_create(app_id)
