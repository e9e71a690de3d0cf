"""Widgets, HTML reprs, the ``%jazz`` magic and the extension, in-process (no kernel)."""

from __future__ import annotations

from typing import Any

import pytest
from IPython.core.interactiveshell import InteractiveShell

import jazz_nb as jz
from jazz_nb import s
from jazz_nb.errors import JazzError
from jazz_nb.notebook import extension, magics
from jazz_nb.notebook.html import live_html
from jazz_nb.notebook.widgets import LiveView, Throttle, live_mimebundle, live_view, subscriptions


def get_ipython() -> Any:
    """The process's IPython shell (whichever kind other tests made first, else a new one)."""
    return InteractiveShell.instance()


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_throttle_runs_at_most_once_per_interval_and_batches() -> None:
    clock = Clock()
    runs: list[float] = []
    throttle = Throttle(lambda: runs.append(clock.now), interval=0.1, clock=clock)
    throttle.request()
    throttle.request()
    throttle.request()
    assert runs == [100.0] and throttle.dirty  # one run; the other requests wait
    clock.now += 0.05
    throttle.request()
    assert runs == [100.0]
    clock.now += 0.06
    throttle.request()  # interval over: one run covers everything requested meanwhile
    assert runs == [100.0, 100.11] and not throttle.dirty
    throttle.flush()
    assert len(runs) == 2  # nothing pending


def test_live_view_marks_added_rows_and_changed_cells(db: jz.Db, app: s.App) -> None:
    first = db.insert(app.todos, {"title": "a", "priority": 1}).id
    live = db.live(app.todos.order_by("title"))
    view = live_view(live)
    assert live_view(live) is view and isinstance(view, LiveView)
    assert "1 row" in view.header.value and "no change yet" in view.header.value
    view.throttle.interval = 3600  # hold renders: changes batch up
    second = db.insert(app.todos, {"title": "b"}).id
    db.update(app.todos, first, {"priority": 7})
    assert "1 row" in view.header.value
    view.flush()
    assert "2 rows" in view.header.value and "~1" in view.header.value
    assert "<td class='jz-changed'>7</td>" in view.body.value
    db.delete(app.todos, first)
    db.insert(app.todos, {"title": "c"})
    view.flush()
    assert "jz-added" in view.body.value and second in view.body.value
    view.close_button.click()
    assert live.status == "closed" and view.close_button.disabled


def test_html_fallback_and_mimebundle(db: jz.Db, app: s.App) -> None:
    db.insert_many(app.todos, [{"title": f"t{i}"} for i in range(12)])
    live = db.live(app.todos)
    html = live_html(live)
    assert "12 rows" in html and "2 rows more" in html
    bundle = live_mimebundle(live)  # no kernel here: no widget, HTML and text only
    assert set(bundle) == {"text/plain", "text/html"}
    assert live._repr_mimebundle_() == bundle


def test_subscriptions_widget_lists_and_closes(db: jz.Db, app: s.App) -> None:
    live = db.live(app.todos.where(done=False))
    other = db.live(app.projects)
    widget = subscriptions(db)
    text = widget.table.value
    assert text.count("<td><code>") == 2 and "ORDER BY" in text and "&quot;todos&quot;" in text
    widget.throttle.interval = 0
    db.insert(app.todos, {"title": "x"})
    assert "1 row" in widget.table.value
    widget.buttons.children[1].click()
    assert other.status == "closed" and widget.table.value.count("<td><code>") == 1
    live.close()
    widget.flush()
    assert "no live queries" in widget.table.value


def test_extension_is_idempotent_and_unloads() -> None:
    ip = get_ipython()
    extension.load_ipython_extension(ip)
    first = ip.magics_manager.magics["line"]["jazz"]
    extension.load_ipython_extension(ip)
    assert ip.magics_manager.magics["line"]["jazz"] is first
    assert "subscriptions" in ip.run_line_magic("jazz", "help")
    extension.unload_ipython_extension(ip)
    assert "jazz" not in ip.magics_manager.magics["line"]
    extension.unload_ipython_extension(ip)  # twice is harmless


def test_jazz_magic_finds_the_db(db: jz.Db, app: s.App) -> None:
    ip = get_ipython()
    extension.load_ipython_extension(ip)
    try:
        ip.user_ns["mydb"] = db
        db.live(app.todos)
        assert ip.run_line_magic("jazz", "subscriptions mydb").registry.live_queries()
        assert ip.run_line_magic("jazz", "subscriptions").table.value.count("<td><code>") == 1
        ip.user_ns["second"] = jz.create_db(app, app_id="other")
        with pytest.raises(JazzError, match="name the db"):
            ip.run_line_magic("jazz", "subscriptions")
        with pytest.raises(JazzError, match="not a jazz_nb Db"):
            ip.user_ns["x"] = 1
            ip.run_line_magic("jazz", "subscriptions x")
        with pytest.raises(JazzError, match="unknown %jazz subcommand"):
            ip.run_line_magic("jazz", "nope")
    finally:
        second: Any = ip.user_ns.pop("second", None)
        if second is not None:
            second.close()
        for name in ("mydb", "x"):
            ip.user_ns.pop(name, None)
        extension.unload_ipython_extension(ip)


def test_subcommands_can_be_added() -> None:
    magics.register_subcommand("echo", lambda shell, args: args.upper(), "echo the args")
    try:
        assert magics.jazz_magic("echo hi") == "HI"
        assert "echo the args" in magics.jazz_magic("help")
    finally:
        magics.SUBCOMMANDS.pop("echo")
