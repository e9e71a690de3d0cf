"""``notebooks/collaboration.ipynb`` runs top to bottom in a real kernel (nbclient) against the
embedded server, which the test stops afterwards."""

from __future__ import annotations

import pytest

from jazz_nb.sync import stop_embedded_server
from tests.notebook_runner import run_notebook, text_of, widget_states

pytestmark = pytest.mark.slow


def test_collaboration_notebook(monkeypatch, tmp_path):
    try:
        nb, cells = run_notebook("collaboration.ipynb", monkeypatch, cwd=tmp_path)
    finally:
        assert stop_embedded_server(tmp_path / "embedded")  # JAZZ_NB_SERVER_DIR (conftest)
    assert "Buy milk" in text_of(cells["bob-sees"])
    alice_sees = text_of(cells["alice-sees"])
    assert "Fix the bike" in alice_sees and "True" in alice_sees
    merged = text_of(cells["merged"])
    assert "frames equal: True" in merged and "(new chain)" in merged
    tiers = text_of(cells["tiers"])
    assert "confirmed at: global" in tiers and "rejected: permission_denied" in tiers
    assert "['Buy milk', 'Call mum', 'Fix the bike (new chain)']" in tiers
    assert "connected outbox: 0" in text_of(cells["status"])
    state = widget_states(nb)
    html = [m["state"].get("value", "") for m in state.values() if m["model_name"] == "HTMLModel"]
    assert any("jazz-sync-status" in value and "connected" in value for value in html)
