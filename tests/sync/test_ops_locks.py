"""One process per data folder: a second server, or a second process opening a ``path=``
store, is refused with a message naming the holder (issues 21 and 13)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import jazz_nb as jz
from jazz_nb.sync import start_local_server
from jazz_nb.sync.deploy import publish_schema
from tests.sync.conftest import ADMIN, todo_app

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


def test_a_second_server_on_the_same_data_dir_refuses_to_start(tmp_path, app_id):
    data = tmp_path / "data"
    with start_local_server(port=0, data_dir=data, admin_secret=ADMIN) as first:
        publish_schema(first.url, app_id, todo_app(), admin_secret=ADMIN)  # its DuckDB is open
        second = subprocess.run(
            [sys.executable, "-m", "jazz_nb.sync.cli", "server", "--port", "0", "-d", str(data)],
            capture_output=True, text=True, timeout=60)
        assert second.returncode == 1 and second.stdout == ""
        message = second.stderr.strip()
        assert "\n" not in message
        assert str(data) in message and f"in use by process {first.pid}" in message
        assert first.healthy()


OTHER = textwrap.dedent("""
    import sys
    import jazz_nb as jz
    from tests.sync.conftest import todo_app
    db = jz.create_db(todo_app(), app_id="x", path=sys.argv[1])
    print("open", flush=True)
    sys.stdin.read()
    db.close()
""")


def test_a_store_open_in_another_process_is_in_use(tmp_path):
    path = str(tmp_path / "todo.duckdb")
    app = todo_app()
    other = subprocess.Popen([sys.executable, "-c", OTHER, path], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        assert other.stdout is not None and other.stdout.readline() == "open\n"
        with pytest.raises(jz.JazzError, match=f"store {path} is in use by process "
                                               f"{other.pid}"):
            jz.create_db(app, app_id="x", path=path)
    finally:
        assert other.stdin is not None
        other.stdin.close()
        assert other.wait(timeout=30) == 0
    with jz.create_db(app, app_id="x", path=path) as db, \
            jz.create_db(app, app_id="x", path=path) as same_process:  # DuckDB shares it
        db.insert(app.todos, {"title": "mine now"})
        assert [r["title"] for r in same_process.all(app.todos)] == ["mine now"]
