"""``notebooks/permissions.ipynb`` runs top to bottom under nbclient; outputs and the saved widget
state show each role's view."""

from __future__ import annotations

import pytest

from tests.notebook_runner import run_notebook, text_of, widget_states


@pytest.mark.slow
def test_permissions_notebook_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    nb, cells = run_notebook("permissions.ipynb", monkeypatch)
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

    state = widget_states(nb)
    models = {m["model_name"]: m["state"] for m in state.values()}
    buttons = models["ToggleButtonsModel"]
    assert buttons["_options_labels"] == ["reader", "contributor", "writer", "admin", "outsider"]
    assert buttons["_options_labels"][buttons["index"]] == "contributor"
    shown = str(models["OutputModel"]["outputs"])
    assert "Draft" in shown and "Side notes" not in shown  # the contributor's live frame
