"""``notebooks/collaboration.ipynb`` runs top to bottom in a real kernel (nbclient) against the
embedded server, which the test stops afterwards."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from jazz_nb.sync import stop_embedded_server

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = ROOT / "notebooks" / "collaboration.ipynb"
pytestmark = pytest.mark.slow


def text_of(cell: Any) -> str:
    parts = []
    for output in cell.outputs:
        assert output.output_type != "error", f"{output.ename}: {output.evalue}"
        if output.output_type == "stream":
            parts.append(output.text)
        for mime in ("text/plain", "text/html"):
            parts.append(str(output.get("data", {}).get(mime, "")))
    return "".join(parts)


def test_collaboration_notebook(monkeypatch, tmp_path):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(
        [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]))
    nb = nbformat.read(NOTEBOOK, as_version=4)
    try:
        nbclient.NotebookClient(nb, timeout=120, kernel_name="python3", store_widget_state=True,
                                resources={"metadata": {"path": str(tmp_path)}}).execute()
    finally:
        assert stop_embedded_server(tmp_path / "embedded")  # JAZZ_NB_SERVER_DIR (conftest)
    cells = {tag: cell for cell in nb.cells for tag in cell.metadata.get("tags", [])}
    for cell in nb.cells:
        if cell.cell_type == "code":
            text_of(cell)  # no cell raised
    assert "Buy milk" in text_of(cells["bob-sees"])
    alice_sees = text_of(cells["alice-sees"])
    assert "Fix the bike" in alice_sees and "True" in alice_sees
    merged = text_of(cells["merged"])
    assert "frames equal: True" in merged and "(new chain)" in merged
    tiers = text_of(cells["tiers"])
    assert "confirmed at: global" in tiers and "rejected: permission_denied" in tiers
    assert "['Buy milk', 'Call mum', 'Fix the bike (new chain)']" in tiers
    assert "connected outbox: 0" in text_of(cells["status"])
    state = nb.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    html = [m["state"].get("value", "") for m in state.values() if m["model_name"] == "HTMLModel"]
    assert any("jazz-sync-status" in value and "connected" in value for value in html)
