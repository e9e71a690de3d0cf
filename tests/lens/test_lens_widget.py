"""The migrations widget: versions, graph, workbench; ``%jazz migrations``."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

import jazz_nb as jz
from jazz_nb import s
from jazz_nb.errors import JazzError
from jazz_nb.lens import Lens, migration
from jazz_nb.lens.runtime import evolve
from jazz_nb.notebook.migrations import migrations, migrations_command


def test_workbench_shows_drafts_samples_and_activates(v1: s.App, v2: s.App, v3: s.App,
                                                      lens12: Lens) -> None:
    with jz.create_db(v1, app_id="lens-widget") as db:
        db.insert(v1.todos, {"title": "milk"})
        db2 = evolve(db, v2, lens12)
        view = migrations(db2)
        assert v1.schema_hash[:12] in view.versions.value and "1 rows" in view.versions.value
        assert "add_column todos.priority" in view.graph.value
        draft = migration(v2, v3)
        view.load(draft)
        assert "possible_rename" in view.warnings.value and view.publish_button.disabled
        assert view.table.value == "todos"
        assert "<th>text</th>" in view.forward_after.value and "milk" in view.forward_after.value
        assert "<th>title</th>" in view.back_after.value  # there and back again
        published = []
        view.publish = published.append
        edited = draft.rename_column("todos", "title", "text").to_json()
        view.editor.value = json.dumps(edited)
        view.apply_json()
        assert not view.lens.is_draft and not view.publish_button.disabled
        view.activate()
        assert published == [view.lens]
        assert db.migrations.graph.path(v1.schema_hash, v3.schema_hash) is not None
        assert "activated" in view.message.value
        view.editor.value = "{not json"
        view.apply_json()
        assert "Expecting property name" in view.message.value


def test_jazz_migrations_subcommand_finds_the_db(v1: s.App) -> None:
    with jz.create_db(v1, app_id="lens-widget") as db:
        shell = SimpleNamespace(user_ns={"db": db, "x": 1})
        assert migrations_command(shell, "").db is db
        assert migrations_command(shell, "db").db is db
        with pytest.raises(JazzError):
            migrations_command(shell, "x")
