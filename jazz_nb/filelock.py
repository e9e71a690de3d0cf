"""Exclusive lock files (``fcntl.flock``) that name the process holding them.

``hold(path, what)`` takes the lock or raises ``InUse`` naming ``what`` and the holder's pid
(the holder writes its pid into the file). The kernel drops the lock when the holder exits,
however it exits, so a crash never leaves a stale lock; the file itself stays (removing it
would race with the next holder). ``shared=True`` lets one process hold the same lock several
times (reference-counted) — a DuckDB file, which DuckDB shares inside one process; with
``shared=False`` a second hold in the same process is refused like one from another process.

Example:
    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "x.lock"
    >>> lock = hold(path, "folder x")
    >>> holder(path) == os.getpid()
    True
    >>> hold(path, "folder x")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    jazz_nb.filelock.InUse: folder x is in use by process ... (lock file ...x.lock)
    >>> lock.release(); holder(path) is None
    True
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
from pathlib import Path

from jazz_nb.errors import JazzError

_held: dict[str, list[int]] = {}  # real path -> [fd, count] of shared locks of this process
_guard = threading.Lock()


class InUse(JazzError):
    """Another process (``pid`` if known) holds the lock of ``path``.

    Example:
        >>> InUse("store x.duckdb", Path("x.duckdb.lock"), 42).pid
        42
    """

    def __init__(self, what: str, path: Path, pid: int | None) -> None:
        by = f"process {pid}" if pid is not None else "another process"
        super().__init__(f"{what} is in use by {by} (lock file {path})", code="in_use")
        self.path = path
        self.pid = pid


class Lock:
    """A held lock; ``release()`` once (idempotent).

    Example:
        >>> import tempfile
        >>> lock = hold(Path(tempfile.mkdtemp()) / "y.lock", "y")
        >>> lock.release(); lock.release()
    """

    def __init__(self, key: str, fd: int, shared: bool) -> None:
        self._key, self._fd, self._shared = key, fd, shared
        self._released = False

    def release(self) -> None:
        """Give the lock up (a shared one when its last holder in this process releases)."""
        with _guard:
            if self._released:
                return
            self._released = True
            if self._shared:
                entry = _held[self._key]
                entry[1] -= 1
                if entry[1] > 0:
                    return
                del _held[self._key]
            os.close(self._fd)  # closing the descriptor drops the flock


def _read_pid(fd: int) -> int | None:
    with contextlib.suppress(OSError, ValueError):
        return int(os.pread(fd, 32, 0).decode().strip() or "x")
    return None


def hold(path: str | os.PathLike[str], what: str, *, shared: bool = False) -> Lock:
    """Take the exclusive lock file ``path`` (created if missing); ``InUse`` if it is held.

    Example:
        >>> import tempfile
        >>> path = Path(tempfile.mkdtemp()) / "z.lock"
        >>> a, b = hold(path, "z", shared=True), hold(path, "z", shared=True)
        >>> a.release(); holder(path) == os.getpid(); b.release()
        True
    """
    key = os.path.realpath(path)
    with _guard:
        entry = _held.get(key) if shared else None
        if entry is not None:
            entry[1] += 1
            return Lock(key, entry[0], shared)
        fd = os.open(key, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pid = _read_pid(fd)
            os.close(fd)
            raise InUse(what, Path(key), pid) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        if shared:
            _held[key] = [fd, 1]
        return Lock(key, fd, shared)


def holder(path: str | os.PathLike[str]) -> int | None:
    """The pid holding the lock file ``path`` (``-1`` if held but unnamed), ``None`` if free.

    Example:
        >>> holder("/nonexistent/lock") is None
        True
    """
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        pid = _read_pid(fd)
        return -1 if pid is None else pid
    finally:
        os.close(fd)
    return None
