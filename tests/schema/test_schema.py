"""Schema DSL: Jazz's schema hash, branch names, validation at definition time."""

from __future__ import annotations

import pickle

import pytest

from jazz_nb import SchemaError, s

JAZZ_TODOS_HASH = "bfd77d25b0696da75df2ca82ab129c6289432decaaad8b86adcb31a366bdd217"


def todos(**extra: s.Column) -> s.App:
    return s.define_app({"todos": s.table(title=s.string(), done=s.boolean(), **extra)})


def test_schema_hash_matches_jazz_vector() -> None:
    assert todos().schema_hash == JAZZ_TODOS_HASH


def test_branch_name_uses_first_12_hex_chars() -> None:
    assert todos().branch == "dev-bfd77d25b069-main"
    assert s.branch_name(JAZZ_TODOS_HASH, "prod", "feature-x") == "prod-bfd77d25b069-feature-x"
    with pytest.raises(ValueError):
        s.branch_name(JAZZ_TODOS_HASH, "my-env")


@pytest.mark.parametrize("other", [
    lambda: s.define_app({"todos": s.table(done=s.boolean(), title=s.string())}),  # column order
    lambda: s.define_app({"todos": s.table(title=s.string().optional(), done=s.boolean())}),
    lambda: s.define_app({"todos": s.table(title=s.string(), done=s.boolean(default=False))}),
    lambda: s.define_app({"todos": s.table(title=s.string(),
                                           done=s.boolean()).index_only("title")}),
    lambda: s.define_app({"todo": s.table(title=s.string(), done=s.boolean())}),
])
def test_every_structural_change_changes_the_hash(other) -> None:
    assert other().schema_hash != JAZZ_TODOS_HASH


def test_hash_is_independent_of_table_declaration_order() -> None:
    a = s.define_app({"a": s.table(x=s.int()), "b": s.table(y=s.string())})
    b = s.define_app({"b": s.table(y=s.string()), "a": s.table(x=s.int())})
    assert a.schema_hash == b.schema_hash


def test_every_column_type_hashes_and_round_trips_through_json() -> None:
    app = s.define_app({
        "projects": s.table(name=s.string()),
        "items": s.table(
            a=s.string(default="x"), b=s.int(default=1), c=s.bigint(default=2**40),
            d=s.float(default=1.5), e=s.boolean(default=True), f=s.timestamp(default=0),
            g=s.uuid().optional(), h=s.enum("low", "high", default="low"),
            i=s.json({"type": "object"}).optional(), j=s.bytes().optional(),
            k=s.array(s.int(), default=[]), project_id=s.ref("projects").optional(),
            part_ids=s.array(s.ref("projects")).optional(),
            votes=s.int(default=0).merge_with("counter"),
        ),
    })
    again = s.App.from_json(app.to_json())
    assert again.schema_hash == app.schema_hash
    assert app.tables["items"].columns["h"].type.variants == ("high", "low")  # sorted like Jazz


@pytest.mark.parametrize(("build", "needle"), [
    (lambda: {"todos": s.table(project_id=s.ref("projects"))}, "unknown table 'projects'"),
    (lambda: {"todos": s.table(kind=s.enum())}, "at least one variant"),
    (lambda: {"todos": s.table(kind=s.enum("a", "a"))}, "unique"),
    (lambda: {"todos": s.table(kind=s.enum(""))}, "non-empty"),
    (lambda: {"todos": s.table(**{"$title": s.string()})}, "must not start with '$'"),
    (lambda: {"todos": s.table(id=s.string())}, "reserved"),
    (lambda: {"todos": s.table(_jz_x=s.string())}, "reserved"),
    (lambda: {"todos": s.table()}, "no columns"),
    (lambda: {"bad name": s.table(x=s.int())}, "invalid table name"),
    (lambda: {"todos": s.table(owner=s.ref("todos"))}, "must end in _id or Id"),
    (lambda: {"todos": s.table(n=s.int().optional().merge_with("counter"))}, "counter"),
    (lambda: {"todos": s.table(n=s.string().merge_with("g-set"))}, "g-set"),
    (lambda: {"todos": s.table(n=s.int(default="x"))}, "expected a 32-bit integer"),
    (lambda: {"todos": s.table(n=s.int(default=2**31))}, "32-bit"),
    (lambda: {"todos": s.table(n="text")}, "column builder"),
    (lambda: {"todos": s.table(x=s.int()).index_only("y")}, "unknown column 'y'"),
])
def test_invalid_schemas_raise_schema_error_naming_the_fault(build, needle) -> None:
    with pytest.raises(SchemaError) as err:
        s.define_app(build())
    assert needle in str(err.value)


def test_relation_names_follow_jazz() -> None:
    app = s.define_app({
        "projects": s.table(name=s.string()),
        "files": s.table(name=s.string()),
        "todos": s.table(projectId=s.ref("projects"), part_ids=s.array(s.ref("files"))),
    })
    assert set(app.relations["todos"]) == {"project", "parts"}
    assert set(app.relations["projects"]) == {"todos_via_project"}
    assert set(app.relations["files"]) == {"todos_via_parts"}
    assert app.relations["todos"]["parts"].many


def test_table_handles_and_unknown_table() -> None:
    app = todos()
    assert app.todos.table == "todos"
    with pytest.raises(AttributeError, match="no table 'nope'"):
        _ = app.nope


def test_an_app_survives_pickle_with_its_hash_and_handles() -> None:
    """Worker processes receive apps by pickle; the "no default" marker stays the singleton."""
    app = s.define_app({"todos": s.table(title=s.string(), n=s.int().optional())})
    copy = pickle.loads(pickle.dumps(app))
    assert copy.schema_hash == app.schema_hash
    assert copy.todos.table == "todos"
    with pytest.raises(AttributeError, match="app has no table 'nope'"):
        copy.nope  # noqa: B018
