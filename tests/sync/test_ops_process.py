"""Server processes: children die with their parent, the embedded daemon does not, ``jazz-nb
server status|stop``, and dbs follow a restarted embedded server (issue 21)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from jazz_nb.auth.identity import generate_secret
from jazz_nb.cli import main
from jazz_nb.sync import connect
from jazz_nb.sync.process import _alive, embedded_status, stop_embedded_server
from tests.sync.conftest import todo_app

pytestmark = pytest.mark.slow
DEADLINE = 30.0


def wait_until(condition, what: str) -> None:
    deadline = time.monotonic() + DEADLINE
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        time.sleep(0.05)


def run_parent(script: str) -> tuple[subprocess.Popen[str], int]:
    """A python process running ``script``, which prints a server's pid; returns both."""
    parent = subprocess.Popen([sys.executable, "-c", textwrap.dedent(script)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert parent.stdout is not None
    return parent, int(parent.stdout.readline())


def kill(parent: subprocess.Popen[str]) -> None:
    parent.send_signal(signal.SIGKILL)
    parent.wait(timeout=DEADLINE)


def jazz_nb(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    """Run the ``jazz-nb`` command line (in this process); ``(exit code, stdout)``."""
    code = main(list(args))
    return code, capsys.readouterr().out


def test_a_local_server_dies_with_its_sigkilled_parent():
    parent, child = run_parent("""
        import sys
        from jazz_nb.sync import start_local_server
        server = start_local_server(port=0)
        print(server.pid, flush=True)
        sys.stdin.read()
    """)
    try:
        assert _alive(child)
        kill(parent)
        wait_until(lambda: not _alive(child), "the orphaned server exited")
    finally:
        if _alive(child):
            os.kill(child, signal.SIGKILL)


def test_the_embedded_daemon_outlives_its_parent_and_server_status_stop(tmp_path: Path,
                                                                         capsys):
    code, out = jazz_nb(capsys, "server", "status")
    assert code == 1 and "no embedded server runs" in out
    parent, daemon = run_parent("""
        import sys
        from jazz_nb.sync.process import embedded_server
        print(embedded_server().pid, flush=True)
        sys.stdin.read()
    """)
    try:
        kill(parent)
        code, out = jazz_nb(capsys, "server", "status")
        assert code == 0
        fields = dict(line.split(": ", 1) for line in out.splitlines())
        assert fields["pid"] == str(daemon) and fields["health"] == "healthy"
        assert fields["url"].startswith("ws://127.0.0.1:")
        assert fields["data_dir"] == str(tmp_path / "embedded" / "data")
        assert fields["uptime"].endswith("s")
        code, out = jazz_nb(capsys, "server", "stop")
        assert code == 0 and f"pid {daemon}" in out
        assert not _alive(daemon)
        code, out = jazz_nb(capsys, "server", "stop")  # idempotent
        assert code == 0 and "no embedded server runs" in out
    finally:
        if _alive(daemon):
            os.kill(daemon, signal.SIGKILL)


def test_a_db_follows_the_embedded_server_when_it_restarts():
    app = todo_app()
    db = connect(app, app_id="follow", secret=generate_secret())
    try:
        first = embedded_status()
        assert first is not None and db.status.server_url == first["url"]
        os.kill(first["pid"], signal.SIGKILL)
        wait_until(lambda: not _alive(first["pid"]), "the embedded server died")
        row = db.insert(app.todos, {"title": "written while it was down"})
        row.wait("global", timeout=DEADLINE)  # the db restarted it and replayed its outbox
        now = embedded_status()
        assert now is not None and now["pid"] != first["pid"]
        assert db.status.server_url == now["url"]
    finally:
        db.close()
        stop_embedded_server()
