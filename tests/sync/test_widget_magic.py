"""The status widget follows ``db.status``; ``%jazz connect`` binds a connected db."""

from __future__ import annotations

import threading

import pytest

import jazz_nb as jz
from jazz_nb import s
from jazz_nb.sync.magic import connect_command
from jazz_nb.sync.widget import status_widget

pytestmark = pytest.mark.slow


def test_status_widget_follows_the_status(open_app, clients):
    db = clients()
    view = status_widget(db)
    assert "connected" in view.value and "outbox 0" in view.value
    assert view._repr_mimebundle_()["text/html"] == view.value
    changed = threading.Event()
    db.engine.sync.on_status(lambda status: changed.set())
    db.insert(open_app.todos, {"title": "x"}).wait("global", timeout=10)
    assert changed.wait(10) and "jazz-sync-status" in view.value
    with jz.create_db(open_app, app_id="plain") as plain:
        assert "local" in status_widget(plain).value


def test_jazz_connect_magic(server, open_app, app_id):
    namespace = {"app": open_app, "other": 1}
    db = connect_command(f"--server {server.url} --app {app_id} --as shared", namespace)
    try:
        assert namespace["shared"] is db and db.status.connected
        assert db.all(open_app.todos, tier="edge") == []
    finally:
        db.close()
    namespace["second_app"] = s.define_app({"t": s.table(x=s.int())})
    with pytest.raises(jz.JazzError, match="found 2 apps"):
        connect_command(f"--server {server.url}", namespace)
    with pytest.raises(jz.JazzError, match="unknown argument"):
        connect_command("--server x --bogus", namespace)
    with pytest.raises(jz.JazzError, match="not an app"):
        connect_command("--schema other", namespace)
