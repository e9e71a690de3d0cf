"""ipywidgets views: one per live query, and the list of a db's live queries.

Widgets are only touched on the kernel thread: live queries flush there (their changes from
other threads arrive through the kernel's IO loop), and renders are throttled — at most one per
``interval`` (0.1 s, so ~10 a second); changes in between are batched into the next render,
which a timer on the IO loop guarantees.

Example:
    >>> import jazz_nb as jz
    >>> from jazz_nb import s
    >>> app = s.define_app({"todos": s.table(title=s.string())})
    >>> db = jz.create_db(app, app_id="widget-doc")
    >>> live = db.live(app.todos)
    >>> view = live_view(live)
    >>> _ = db.insert(app.todos, {"title": "a"})
    >>> view.flush(); "1 row" in view.header.value
    True
    >>> "todos" in subscriptions(db).table.value
    True
    >>> db.close()
"""

from __future__ import annotations

import html
import json
import time
import weakref
from collections.abc import Callable
from typing import Any

import ipywidgets as w

from jazz_nb.live.registry import registry_for
from jazz_nb.live.schedule import kernel
from jazz_nb.notebook.html import (
    STYLE,
    change_label,
    head_html,
    header_html,
    rows_label,
    session_label,
)

_pending: weakref.WeakSet[Throttle] = weakref.WeakSet()
_hooked_shells: weakref.WeakSet[Any] = weakref.WeakSet()


def flush_pending(*_: Any) -> None:
    """Render every view with a change waiting for its throttle (runs after each cell, so a
    cell's output ends showing the state the cell left)."""
    for throttle in list(_pending):
        throttle.flush()


def _hook_cells() -> None:
    shell = getattr(kernel(), "shell", None)
    if shell is not None and shell not in _hooked_shells:
        shell.events.register("post_run_cell", flush_pending)
        _hooked_shells.add(shell)


def unhook_cells(shell: Any) -> None:
    """Remove the post-cell flush from ``shell`` (extension unload)."""
    if shell in _hooked_shells:
        shell.events.unregister("post_run_cell", flush_pending)
        _hooked_shells.discard(shell)


class Throttle:
    """Run ``action`` at most once per ``interval`` seconds; requests in between are batched
    into one later run, scheduled on the kernel's IO loop (and run at the latest when the
    current cell ends); without a kernel, at the next request or ``flush()``."""

    def __init__(self, action: Callable[[], None], interval: float = 0.1,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.action = action
        self.interval = interval
        self.clock = clock
        self.last = float("-inf")
        self.dirty = False
        self.timer = False
        self.runs = 0
        _hook_cells()

    def request(self) -> None:
        """Ask for a run: now if the last one is old enough, else once the interval is over."""
        self.dirty = True
        _pending.add(self)
        wait = self.last + self.interval - self.clock()
        if wait <= 0:
            self.flush()
            return
        if not self.timer:
            loop = getattr(kernel(), "io_loop", None)
            if loop is not None:
                self.timer = True
                loop.call_later(wait, self._fire)

    def _fire(self) -> None:
        self.timer = False
        if self.dirty:
            self.flush()

    def flush(self) -> None:
        """Run now if anything was requested since the last run."""
        if not self.dirty:
            return
        self.dirty = False
        _pending.discard(self)
        self.last = self.clock()
        self.runs += 1
        self.action()


class LiveView(w.VBox):
    """A live query's view: row count, status and last change, then the head of the result
    with added rows and changed cells marked; updates are throttled (``interval``)."""

    def __init__(self, live: Any, rows: int = 10, interval: float = 0.1) -> None:
        self.header = w.HTML()
        self.body = w.HTML()
        self.close_button = w.Button(description="close", tooltip="stop following changes",
                                     layout=w.Layout(width="70px"))
        super().__init__([w.HBox([self.header, self.close_button]), self.body])
        self.add_class("jz-live-view")
        self._live = weakref.ref(live)
        self.rows = rows
        self.throttle = Throttle(self.render, interval)
        self.close_button.on_click(lambda _: self._close())
        self._remove = live.on_change(lambda *_: self.throttle.request())
        self.throttle.request()

    @property
    def live(self) -> Any:
        """The live query (``None`` once it is garbage)."""
        return self._live()

    def render(self) -> None:
        """Redraw from the live query's current state."""
        live = self.live
        if live is None:
            return
        self.header.value = f"{STYLE}<div class='jz-live'>{header_html(live)}</div>"
        self.body.value = f"<div class='jz-live'>{head_html(live, self.rows)}</div>"
        self.close_button.disabled = live.closed

    def flush(self) -> None:
        """Render now if a change is waiting for the throttle."""
        self.throttle.flush()

    def _close(self) -> None:
        live = self.live
        if live is not None:
            live.close()
        self.throttle.dirty = True
        self.throttle.flush()


def live_view(live: Any) -> LiveView:
    """The (one) widget view of a live query."""
    view = getattr(live, "_view", None)
    if view is None:
        view = LiveView(live)
        live._view = view
    return view


def live_mimebundle(live: Any) -> dict[str, Any]:
    """Widget view plus HTML and text fallbacks (front-ends pick what they can render)."""
    from jazz_nb.notebook.html import live_html

    bundle: dict[str, Any] = {"text/plain": repr(live), "text/html": live_html(live)}
    if kernel() is not None:  # a widget needs a kernel with comms
        view_bundle = live_view(live)._repr_mimebundle_()
        if view_bundle:
            bundle.update({k: v for k, v in view_bundle.items() if k != "text/plain"})
    return bundle


# -- the list of live queries -------------------------------------------------------------------

class Subscriptions(w.VBox):
    """A db's live queries, of every session view: table, session, query (IR and SQL), rows,
    last change, status, close."""

    def __init__(self, db: Any, interval: float = 0.1) -> None:
        self.table = w.HTML()
        self.buttons = w.VBox()
        super().__init__([self.table, self.buttons])
        self.registry = registry_for(db)
        self.throttle = Throttle(self.render, interval)
        self._hooked: dict[int, Callable[[], None]] = {}
        self.registry.watch(self.throttle.request)
        self.throttle.request()

    def render(self) -> None:
        """Redraw the list."""
        lives = self.registry.live_queries()
        for live in lives:
            if id(live) not in self._hooked:
                self._hooked[id(live)] = live.on_change(lambda *_: self.throttle.request())
        rows = ["<tr><th>#</th><th>table</th><th>session</th><th>query</th><th>rows</th>"
                "<th>last change</th><th>status</th></tr>"]
        for i, live in enumerate(lives):
            ir = html.escape(json.dumps(live.query.to_ir(), ensure_ascii=False))
            rows.append(
                f"<tr><td>{i}</td><td><code>{html.escape(live.table)}</code></td>"
                f"<td>{html.escape(session_label(live.db))}</td><td><details><summary><code>{html.escape(repr(live.query))}</code></summary>"
                f"<div>IR: <code>{ir}</code></div><pre>{html.escape(live.sql)}</pre></details>"
                f"</td><td>{rows_label(len(live))}</td>"
                f"<td>{len(live.last_delta)} rows · {html.escape(change_label(live))}</td>"
                f"<td>{html.escape(live.status)}</td></tr>")
        if not lives:
            rows.append("<tr><td colspan='7'>no live queries</td></tr>")
        self.table.value = f"{STYLE}<div class='jz-live'><table>{''.join(rows)}</table></div>"
        buttons = []
        for i, live in enumerate(lives):
            button = w.Button(description=f"close #{i}", layout=w.Layout(width="90px"))
            button.on_click(lambda _, lq=live: self._close(lq))
            buttons.append(button)
        self.buttons.children = buttons

    def _close(self, live: Any) -> None:
        live.close()
        self.throttle.dirty = True
        self.throttle.flush()

    def flush(self) -> None:
        """Render now if a change is waiting for the throttle."""
        self.throttle.flush()


def subscriptions(db: Any) -> Subscriptions:
    """``jz.widgets.subscriptions(db)``: a widget listing the db's live queries."""
    return Subscriptions(db)
