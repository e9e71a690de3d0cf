"""A small sync status widget: state, server, outbox size, last settled, last error.

``status_widget(db)`` is an ``ipywidgets.HTML`` that follows ``db.status`` (updates run on the
kernel's IO loop, at most every half second); outside a widget front-end it shows the same
content as plain HTML (``SyncStatus._repr_html_`` uses ``status_html``).

Example:
    >>> from jazz_nb.sync.client import SyncStatus
    >>> "offline" in status_html(SyncStatus("offline", "ws://127.0.0.1:1625", outbox=2))
    True
"""

from __future__ import annotations

import html
import threading
import time
from typing import TYPE_CHECKING, Any

import ipywidgets as widgets

from jazz_nb.live.schedule import kernel_loop

if TYPE_CHECKING:
    from jazz_nb.db import Db
    from jazz_nb.sync.client import SyncStatus

COLORS = {"connected": "#2e7d32", "connecting": "#f9a825", "reconnecting": "#ef6c00",
          "offline": "#c62828", "local": "#757575"}
MIN_INTERVAL = 0.5


def status_html(status: SyncStatus) -> str:
    """The status as one line of HTML.

    Example:
        >>> from jazz_nb.sync.client import SyncStatus
        >>> status_html(SyncStatus("local")).count("<span")
        1
    """
    color = COLORS.get(status.state, "#757575")
    parts = [f'<span style="color:{color}">&#9679;</span> <b>{html.escape(status.state)}</b>']
    if status.server_url:
        parts.append(f"<code>{html.escape(status.server_url)}</code>")
    parts.append(f"outbox {status.outbox}")
    if status.held:
        parts.append(f"<b>{status.held} not accepted yet</b>")
    if status.last_settled is not None:
        settled = time.strftime("%H:%M:%S", time.localtime(status.last_settled))
        parts.append(f"settled {settled}")
    if status.last_error:
        parts.append(f'<span title="{html.escape(status.last_error)}">last error: '
                     f"{html.escape(status.last_error[:80])}</span>")
    return '<div class="jazz-sync-status">' + " &middot; ".join(parts) + "</div>"


class StatusWidget(widgets.HTML):
    """An HTML widget whose plain-HTML fallback is its current content."""

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        bundle = super()._repr_mimebundle_(**kwargs) or {}
        return {**bundle, "text/html": self.value}


def status_widget(db: Db) -> StatusWidget:
    """A widget following ``db.status``.

    Example:
        >>> import jazz_nb as jz
        >>> from jazz_nb import s
        >>> db = jz.create_db(s.define_app({"t": s.table(x=s.int())}), app_id="w")
        >>> "local" in status_widget(db).value
        True
        >>> db.close()
    """
    view = StatusWidget(value=status_html(db.status))
    sync = db.engine.sync
    if sync is None:
        return view
    owner = threading.main_thread().ident or 0
    pending: list[SyncStatus] = []

    def show() -> None:
        view.value = status_html(pending.pop() if pending else db.status)
        pending.clear()

    def changed(status: SyncStatus) -> None:
        loop = kernel_loop(owner)
        if loop is None:
            view.value = status_html(status)
            return
        first = not pending
        pending.append(status)
        if first:  # one update per interval, with the latest status
            loop.add_callback(lambda: loop.call_later(MIN_INTERVAL, show))

    sync.on_status(changed)
    return view
