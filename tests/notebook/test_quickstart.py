"""``notebooks/quickstart.ipynb`` runs top to bottom in a real kernel (nbclient, widget state
stored); its cells assert that the live frame changed after writes, and the saved widget state
shows the live view and the subscriptions list."""

from __future__ import annotations

from typing import Any

import pytest

from tests.notebook_runner import run_notebook, text_of, widget_states


def widget_views(cell: Any) -> list[str]:
    return [o["data"]["application/vnd.jupyter.widget-view+json"]["model_id"]
            for o in cell.outputs
            if "application/vnd.jupyter.widget-view+json" in o.get("data", {})]


@pytest.mark.slow
def test_quickstart_notebook_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    nb, cells = run_notebook("quickstart.ipynb", monkeypatch)  # its cells assert changes

    assert "3 todos" in text_of(cells["setup"])
    assert "rows: 3" in text_of(cells["writes"])
    assert "{'added': 1, 'updated': 1, 'removed': 0}" in text_of(cells["events"])
    assert "rows: 5 | status: live" in text_of(cells["threads"])
    assert "subscription active: False | live query: live 4 rows" in text_of(cells["close"])

    # the live query displayed as a widget, with the HTML fallback beside it
    live_output = cells["live"].outputs[0]["data"]
    assert "text/html" in live_output and "3 rows" in live_output["text/html"]
    state = widget_states(nb)
    html_values = [m["state"].get("value", "") for m in state.values()
                   if m["model_name"] == "HTMLModel"]
    [view_id] = widget_views(cells["live"])
    assert state[view_id]["model_name"] == "VBoxModel"
    header = next(v for v in html_values if "live</b> <code>todos</code>" in v)
    assert "4 rows" in header and "last change v" in header  # rendered after the last cell
    assert any("From a thread" in v for v in html_values)  # the head, with the thread's row
    # the subscriptions list: both live queries of the db, their SQL, a close button each
    [subs_id] = widget_views(cells["subscriptions"])
    assert state[subs_id]["model_name"] == "VBoxModel"
    listing = next(v for v in html_values if "<th>last change</th>" in v)
    # after the subscription closed, only the live query is listed
    assert listing.count("<td><code>todos</code></td>") == 1 and "4 rows" in listing
    assert "ORDER BY" in listing and "&quot;table&quot;: &quot;todos&quot;" in listing
    buttons = [m["state"]["description"] for m in state.values()
               if m["model_name"] == "ButtonModel"]
    assert "close #0" in buttons
