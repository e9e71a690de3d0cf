"""``notebooks/permissions.ipynb`` runs top to bottom under nbclient; outputs and the saved widget
state show each role's view."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = ROOT / "notebooks" / "permissions.ipynb"


def text_of(cell: Any) -> str:
    parts = []
    for output in cell.outputs:
        assert output.output_type != "error", f"{output.ename}: {output.evalue}"
        if output.output_type == "stream":
            parts.append(output.text)
        for mime in ("text/plain", "text/html"):
            parts.append(str(output.get("data", {}).get(mime, "")))
    return "".join(parts)


@pytest.mark.slow
def test_permissions_notebook_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(
        [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]))
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbclient.NotebookClient(nb, timeout=120, kernel_name="python3", store_widget_state=True,
                            resources={"metadata": {"path": str(ROOT)}}).execute()
    cells = {tag: cell for cell in nb.cells for tag in cell.metadata.get("tags", [])}
    for cell in nb.cells:
        if cell.cell_type == "code":
            text_of(cell)  # no cell raised

    counts = " ".join(text_of(cells["counts"]).split())
    for line in ["reader sees 3 documents, may edit 0", "contributor sees 3 documents, may edit 0",
                 "writer sees 4 documents, may edit 4", "admin sees 3 documents, may edit 3",
                 "outsider sees 0 documents, may edit 0"]:
        assert line in counts
    assert "policy denied INSERT on table 'documents'" in text_of(cells["denied"])
    assert "'Draft'" in text_of(cells["contributor"])
    assert "EXISTS (SELECT 1 FROM" in text_of(cells["sql"])
    assert "bob:" in text_of(cells["testing"])
    matrix = text_of(cells["matrix"])
    assert "documents" in matrix and "4/5" in matrix and "if " in matrix
    assert '"type": "Exists"' in text_of(cells["ir"])

    state = nb.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    models = {m["model_name"]: m["state"] for m in state.values()}
    buttons = models["ToggleButtonsModel"]
    assert buttons["_options_labels"] == ["reader", "contributor", "writer", "admin", "outsider"]
    assert buttons["_options_labels"][buttons["index"]] == "contributor"
    shown = str(models["OutputModel"]["outputs"])
    assert "Draft" in shown and "Side notes" not in shown  # the contributor's live frame
