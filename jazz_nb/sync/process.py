"""Server processes: ``start_local_server`` and the per-user embedded server ``connect`` uses.

``start_local_server(port=0, ...)`` runs ``jazz-nb server`` as a child process on 127.0.0.1 and
waits for the JSON line it prints once listening (so port 0 gives the real port). Secrets travel
in the environment, never on the command line. Such a child lives only as long as its parent:
it gets the read end of a pipe whose write end only the parent holds, and stops when that pipe
ends — when the parent exits, crashes or is SIGKILLed. (Not ``prctl(PR_SET_PDEATHSIG)``: that
is Linux-only, needs a ``preexec_fn`` that is unsafe in threaded processes such as a kernel, and
fires when the *thread* that started the child ends, not the process.)

The embedded server is one long-lived process per user, shared by every notebook (detached: it
outlives the process that started it): its url, pid, start time and admin secret live in
``server.json`` (mode 0600) in ``$JAZZ_NB_SERVER_DIR``, else ``$XDG_DATA_HOME/jazz_nb/server``,
else ``~/.local/share/jazz_nb/server``; data in ``data/``. It counts as running while its pid
holds the data dir's lock file (so a dead server's reused pid is not mistaken for it);
``jazz-nb server status`` / ``stop`` report on it and stop it.

Example:
    >>> # with jz.start_local_server(port=0) as server:
    >>> #     db = jz.connect(app, app_id="my-app", server_url=server.url)
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets
import selectors
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jazz_nb import filelock
from jazz_nb.errors import JazzError
from jazz_nb.sync.deploy import request
from jazz_nb.userdirs import user_data_dir

SERVER_DIR_ENV = "JAZZ_NB_SERVER_DIR"


@dataclass
class LocalServer:
    """A running server process: ``.url`` (``ws://127.0.0.1:PORT``), ``.stop()``, ``.kill()``.

    Example:
        >>> LocalServer("ws://127.0.0.1:4200", 4200, None, 0, "s").http_url
        'http://127.0.0.1:4200'
    """

    url: str
    port: int
    process: subprocess.Popen[bytes] | None = field(repr=False)
    pid: int
    admin_secret: str | None = field(repr=False)
    backend_secret: str | None = field(default=None, repr=False)
    data_dir: Path | None = None
    lifeline: int | None = field(default=None, repr=False)  # write end of the parent pipe

    @property
    def http_url(self) -> str:
        """The HTTP base URL (same port)."""
        return "http" + self.url[2:]

    def healthy(self) -> bool:
        """Whether ``/health`` answers."""
        try:
            return request(self.url, "/health", timeout=2)[0] == 200
        except OSError:
            return False

    def stop(self, timeout: float = 10.0) -> None:
        """Stop gracefully (SIGTERM), killing it if it does not exit within ``timeout``."""
        self._signal(signal.SIGTERM, timeout)

    def kill(self) -> None:
        """Kill it at once (SIGKILL), like a crash."""
        self._signal(signal.SIGKILL, 10.0)

    def _signal(self, sig: int, timeout: float) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, sig)
        if self.process is not None:
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout)
            if self.lifeline is not None:
                os.close(self.lifeline)
                self.lifeline = None
            return
        deadline = time.monotonic() + timeout
        while _alive(self.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if _alive(self.pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)

    def __enter__(self) -> LocalServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _alive(pid: int) -> bool:
    """Whether process ``pid`` runs (a zombie — exited, not yet reaped — does not).

    Example:
        >>> _alive(os.getpid())
        True
    """
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    with contextlib.suppress(ChildProcessError):
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done:
            return False
    with contextlib.suppress(OSError):  # Linux: another's child that exited, never reaped
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] not in "ZX"
    return True


def start_local_server(port: int = 0, *, data_dir: str | os.PathLike[str] | None = None,
                       in_memory: bool | None = None, admin_secret: str | None = None,
                       backend_secret: str | None = None, allow_local_first_auth: bool = True,
                       allow_anonymous: bool = True, jwks_url: str | None = None,
                       jwt_public_key: str | None = None, max_frame_bytes: int | None = None,
                       app_id: str | None = None, heartbeat_seconds: float | None = None,
                       limits: Mapping[str, float] | None = None, log_path: Path | None = None,
                       detach: bool = False, timeout: float = 30.0) -> LocalServer:
    """Start ``jazz-nb server`` on 127.0.0.1 (in memory unless ``data_dir`` is given).

    An admin secret is generated when none is given (``server.admin_secret``). ``limits``
    sets ``ServerConfig`` limits by name (``{"max_connections": 10}``). Unless ``detach``, the
    server lives only as long as this process: it stops when this process exits, even by
    SIGKILL (it watches a pipe only this process can write to, and stops at its end).

    Example:
        >>> # server = jz.start_local_server(port=0, backend_secret="be"); server.url
    """
    admin_secret = admin_secret or secrets.token_urlsafe(24)
    args = [sys.executable, "-m", "jazz_nb.sync.cli", "server", "--port", str(port)]
    if app_id is not None:
        args.insert(4, app_id)
    if data_dir is None or in_memory:
        args.append("--in-memory")
    if data_dir is not None:
        args += ["--data-dir", str(data_dir)]
    args.append("--allow-local-first-auth" if allow_local_first_auth
                else "--no-allow-local-first-auth")
    if not allow_anonymous:
        args.append("--no-anonymous")
    given = {"jwks_url": jwks_url, "jwt_public_key": jwt_public_key,
             "max_frame_bytes": max_frame_bytes, "heartbeat_seconds": heartbeat_seconds,
             **(limits or {})}
    for name, value in given.items():
        if value is not None:
            args += [f"--{name.replace('_', '-')}", str(value)]
    watched, lifeline = (None, None) if detach else os.pipe()  # (read end, write end)
    if watched is not None:
        args += ["--parent-fd", str(watched)]
    env = {k: v for k, v in os.environ.items()
           if k not in ("JAZZ_ADMIN_SECRET", "JAZZ_BACKEND_SECRET")}
    env["JAZZ_ADMIN_SECRET"] = admin_secret
    if backend_secret is not None:
        env["JAZZ_BACKEND_SECRET"] = backend_secret
    stderr: Any = None
    if log_path is not None:
        stderr = open(log_path, "ab")  # noqa: SIM115 - handed to the child
    try:
        process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=stderr,
                                   stdin=subprocess.DEVNULL, env=env,
                                   start_new_session=detach,
                                   pass_fds=() if watched is None else (watched,))
    except BaseException:
        if lifeline is not None:
            os.close(lifeline)
        raise
    finally:
        if stderr is not None:
            stderr.close()
        if watched is not None:
            os.close(watched)  # only the child holds the read end now
    try:
        line = _first_line(process, timeout)
    except BaseException:
        if lifeline is not None:
            os.close(lifeline)
        raise
    info = json.loads(line)
    return LocalServer(info["url"], info["port"], process, process.pid, admin_secret,
                       backend_secret, Path(data_dir) if data_dir is not None else None,
                       lifeline)


def _first_line(process: subprocess.Popen[bytes], timeout: float) -> bytes:
    assert process.stdout is not None
    deadline = time.monotonic() + timeout
    buffer = b""
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        while b"\n" not in buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not selector.select(left):
                process.kill()
                process.wait()
                raise JazzError(f"the sync server did not start within {timeout} s")
            chunk = os.read(process.stdout.fileno(), 4096)
            if not chunk:
                code = process.wait()
                raise JazzError(f"the sync server exited with code {code} before listening "
                                "(see its stderr)")
            buffer += chunk
    process.stdout.close()
    return buffer.split(b"\n", 1)[0]


# -- the embedded per-user server ------------------------------------------------------------------
def default_server_dir(environ: Mapping[str, str] | None = None) -> Path:
    """Where the embedded server keeps its state and data.

    Example:
        >>> default_server_dir({"XDG_DATA_HOME": "/data"}).as_posix()
        '/data/jazz_nb/server'
    """
    return user_data_dir("server", SERVER_DIR_ENV, environ)


@contextlib.contextmanager
def _locked(directory: Path) -> Iterator[None]:
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    with open(directory / "server.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _read_state(directory: Path) -> LocalServer | None:
    try:
        state = json.loads((directory / "server.json").read_text())
        return LocalServer(state["url"], state["port"], None, state["pid"],
                           state["admin_secret"], None, directory / "data")
    except (OSError, ValueError, KeyError):
        return None


def _running(directory: Path) -> LocalServer | None:
    """The embedded server of ``directory`` if its process still holds its data dir."""
    from jazz_nb.sync.server import LOCK_FILE

    state = _read_state(directory)
    if state is None or not _alive(state.pid):
        return None
    holder = filelock.holder(directory / "data" / LOCK_FILE)
    return state if holder in (state.pid, -1) else None  # a reused pid holds nothing


def embedded_server(directory: str | os.PathLike[str] | None = None) -> LocalServer:
    """The per-user embedded server: reused if running, else started (detached).

    Example:
        >>> # embedded_server().url
    """
    root = Path(directory) if directory is not None else default_server_dir()
    with _locked(root):
        running = _running(root)
        if running is not None and running.healthy():
            return running
        server = start_local_server(0, data_dir=root / "data", detach=True,
                                    log_path=root / "server.log")
        text = json.dumps({"url": server.url, "port": server.port, "pid": server.pid,
                           "admin_secret": server.admin_secret, "started_at": time.time()})
        handle = os.open(root / "server.json", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(handle, "w") as state:
            os.fchmod(state.fileno(), 0o600)
            state.write(text)
        return server


def embedded_status(directory: str | os.PathLike[str] | None = None) -> dict[str, Any] | None:
    """The embedded server's url, pid, data dir, uptime and health; ``None`` if none runs.

    Example:
        >>> import tempfile
        >>> embedded_status(tempfile.mkdtemp()) is None
        True
    """
    root = Path(directory) if directory is not None else default_server_dir()
    running = _running(root)
    if running is None:
        return None
    started = None
    with contextlib.suppress(OSError, ValueError):
        started = json.loads((root / "server.json").read_text()).get("started_at")
    uptime = "unknown" if not isinstance(started, (int, float)) else \
        _duration(time.time() - started)
    return {"url": running.url, "pid": running.pid, "data_dir": str(running.data_dir),
            "uptime": uptime, "health": "healthy" if running.healthy() else "not answering"}


def _duration(seconds: float) -> str:
    """``3725`` -> ``'1h 2m 5s'``.

    Example:
        >>> _duration(3725), _duration(42.4)
        ('1h 2m 5s', '42s')
    """
    left, parts = int(seconds), []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if left >= size:
            parts.append(f"{left // size}{unit}")
            left %= size
    return " ".join([*parts, f"{left}s"])


def stop_embedded_server(directory: str | os.PathLike[str] | None = None) -> int | None:
    """Stop the embedded server if it runs; returns its pid (``None`` if none ran).

    Example:
        >>> import tempfile
        >>> stop_embedded_server(tempfile.mkdtemp()) is None
        True
    """
    root = Path(directory) if directory is not None else default_server_dir()
    with _locked(root):
        running = _running(root)
        if running is not None:
            running.stop()
        (root / "server.json").unlink(missing_ok=True)
        return running.pid if running is not None else None
