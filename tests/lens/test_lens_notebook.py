"""``notebooks/migrations.ipynb`` runs top to bottom under nbclient with a real kernel: the
version-1 live frame keeps updating through two schema changes; the workbench's saved widget
state shows the activated lens and translated sample rows."""

from __future__ import annotations

import pytest

from tests.notebook_runner import run_notebook, text_of, widget_states


@pytest.mark.slow
def test_migrations_notebook_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    nb, cells = run_notebook("migrations.ipynb", monkeypatch)

    assert "Plan sprint" in text_of(cells["live"])
    assert "ready" in text_of(cells["lens12"])
    v2 = text_of(cells["v2"])
    assert "Paint the fence       6.5" in v2
    assert "version-1 live frame: ['Plan sprint', 'Write report', 'Fix the bike', " \
           "'Paint the fence'" in v2
    draft = text_of(cells["draft"])
    assert "todos.text: 'title' was removed and 'text' added with the same type" in draft
    assert "refused: possible_rename todos text" in draft
    assert "activated" in text_of(cells["activate"])
    after = text_of(cells["after"])
    assert "version-1 live frame: ['Call the plumber', 'Plan sprint', 'Write report', " \
           "'Fix the bike', 'Paint the fence', 'Review PR', 'Water the plants', " \
           "'Buy oat milk', 'Call mum']" in after
    assert "Buy oat milk         2       0.5" in after
    assert "7 todos stored on the version-1 branch" in text_of(cells["counts"])
    assert "2 todos stored on the version-3 branch" in text_of(cells["counts"])
    sql = text_of(cells["sql"])
    assert 'b."title" AS "text"' in sql and "CAST(1.0 AS DOUBLE) AS \"estimate\"" in sql
    assert 'WHERE t0._jz_deleted IS NULL AND t0."priority" >= $q0::INTEGER' in sql
    assert '"type": "rename"' in text_of(cells["json"])

    state = widget_states(nb)
    models = [(m["model_name"], m["state"]) for m in state.values()]
    html = " ".join(str(st.get("value", "")) for name, st in models if name == "HTMLModel")
    lenses = next(st for name, st in models if name == "DropdownModel"
                  and st.get("description") == "Lens")
    assert any(label.endswith("(draft)") for label in lenses["_options_labels"])
    assert not lenses["_options_labels"][lenses["index"]].endswith("(draft)")
    assert "rename_column todos.title → text" in html
    seeded = ("Buy milk", "Fix the bike", "Write report", "Review PR", "Plan sprint", "Call mum")
    assert "<th>text</th>" in html  # the sample, translated forward
    assert any(title in html for title in seeded)
    assert "activated" in html
    activate = next(st for name, st in models if name == "ButtonModel"
                    and st.get("description") == "Activate")
    assert activate["disabled"] is False
