"""``jazz-nb migrations``: snapshots and reviewable migration modules."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from jazz_nb import s
from jazz_nb.errors import MigrationError
from jazz_nb.lens.cli import add_migration_commands
from jazz_nb.lens.files import load_migration, load_snapshot


def run(*argv: str) -> int:
    parser = argparse.ArgumentParser()
    add_migration_commands(parser.add_subparsers())
    args = parser.parse_args(["migrations", *argv])
    return int(args.func(args))


def test_create_writes_a_module_that_loads_the_lens(tmp_path: Path, v1: s.App, v2: s.App,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    folder = str(tmp_path)
    assert run("snapshot", "tests.lens.conftest:make_v1", "--dir", folder) == 0
    [snapshot] = (tmp_path / "snapshots").glob("*.json")
    assert capsys.readouterr().out.strip() == str(snapshot)
    assert snapshot.name.endswith(f"-{v1.schema_hash[:12]}.json")
    assert load_snapshot(tmp_path, v1.schema_hash[:12]).schema_hash == v1.schema_hash

    assert run("create", "--from", v1.schema_hash[:8], "--to", "tests.lens.conftest:make_v2",
               "--name", "add priority", "--dir", folder) == 0
    path = Path(capsys.readouterr().out.strip())
    assert path.parent == tmp_path and path.name.endswith(
        f"-add-priority-{v1.schema_hash[:12]}-{v2.schema_hash[:12]}.py")
    source = path.read_text()
    assert ".add_column('todos', 'priority', default=1)" in source
    lens = load_migration(path)
    assert (lens.from_hash, lens.to_hash, lens.is_draft) == (v1.schema_hash, v2.schema_hash,
                                                            False)


def test_a_draft_module_loads_as_a_draft_until_reviewed(
        tmp_path: Path, v2: s.App, v3: s.App, capsys: pytest.CaptureFixture[str]) -> None:
    assert run("create", "--from", "tests.lens.conftest:make_v2", "--to",
               "tests.lens.conftest:make_v3", "--dir", str(tmp_path)) == 0
    captured = capsys.readouterr()
    assert "draft: todos.text: 'title' was removed" in captured.err
    path = Path(captured.out.strip())
    assert load_migration(path).is_draft
    source = path.read_text()
    assert "    # .rename_column('todos', 'title', 'text')" in source
    path.write_text(source.replace("    # .rename_column(", "    .rename_column("))
    reviewed = load_migration(path)
    assert not reviewed.is_draft and reviewed.to_hash == v3.schema_hash


def test_bad_specs_are_reported(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run("create", "--from", "abcdef12", "--to", "tests.lens.conftest:make_v2",
               "--dir", str(tmp_path)) == 1
    assert "no snapshot of schema abcdef12" in capsys.readouterr().err
    with pytest.raises(MigrationError, match="must define `lens`"):
        empty = tmp_path / "empty.py"
        empty.write_text("x = 1\n")
        load_migration(empty)
