"""The role switcher, the permission matrix, ``%jazz as`` and ``PolicyTestApp``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

import jazz_nb as jz
from jazz_nb import s
from jazz_nb.errors import JazzError, PolicyDenied
from jazz_nb.notebook.roles import RoleSwitcher, as_command, roles
from jazz_nb.policy import define_permissions
from jazz_nb.policy.matrix import permission_matrix
from jazz_nb.testing.policy_app import PolicyTestApp

APP = s.define_app({
    "teams": s.table(name=s.string()),
    "posts": s.table(title=s.string(), team_id=s.ref("teams"), draft=s.boolean(default=False)),
})


def rules(policy: Any, session: Any, any_of: Any) -> None:
    policy.posts.allow_read.where(any_of([{"draft": False}, {"$createdBy": session.user_id}]))
    policy.posts.allow_insert.where(session.where({"claims.role": "editor"}))
    policy.posts.allow_update.where({"$createdBy": session.user_id})
    policy.teams.allow_read.always()
    policy.teams.allow_insert.where({"name": {"ne": "root"}})


@pytest.fixture
def db() -> Iterator[jz.Db]:
    with jz.create_db(APP, app_id="roles", permissions=define_permissions(APP, rules)) as d:
        team = d.insert(APP.teams, {"name": "core"})
        editor = d.for_session(jz.Session("eve", {"role": "editor"}))
        editor.insert(APP.posts, {"title": "Hello", "team_id": team.id})
        editor.insert(APP.posts, {"title": "Secret", "team_id": team.id, "draft": True})
        yield d


SESSIONS = {"eve": jz.Session("eve", {"role": "editor"}), "bob": jz.Session("bob"),
            "guest": jz.Session("guest", auth_mode="anonymous"), "backend": None}


def test_permission_matrix(db: jz.Db) -> None:
    frame = permission_matrix(db, SESSIONS)
    assert list(frame.columns) == ["eve", "bob", "guest", "backend"]
    assert frame.loc[("posts", "read")].tolist() == ["2/2", "1/2", "1/2", "2/2"]
    assert frame.loc[("posts", "insert")].tolist() == ["yes", "no", "no", "yes"]
    assert frame.loc[("posts", "update")].tolist() == [2, 0, 0, 2]
    assert frame.loc[("posts", "delete")].tolist() == [2, 0, 0, 2]  # falls back to update
    assert frame.loc[("teams", "insert")].tolist()[:2] == ['if name != "root"'] * 2


def test_switching_roles_rebinds_live_queries(db: jz.Db) -> None:
    switcher = roles(db, SESSIONS)
    try:
        posts = switcher.live(APP.posts.select("title", "$canEdit").order_by("title"))
        assert switcher.current == "eve" and list(posts.df["title"]) == ["Hello", "Secret"]
        assert switcher.select("bob") is switcher.db
        assert list(posts.df["title"]) == ["Hello"] and not posts.df["$canEdit"].any()
        switcher.buttons.value = "backend"  # a click
        assert switcher.session is None and len(posts.df) == 2
        assert "unscoped" in switcher.who.value and "backend" in switcher.matrix.value
        switcher.select("bob")
        db.insert(APP.posts, {"title": "Another", "team_id": db.one(APP.teams).id})
        db.flush()
        assert list(posts.df["title"]) == ["Another", "Hello"]
        shown = posts.output.outputs[0]["data"]  # plain text once IPython's test shell exists
        html = str(shown.get("text/html", shown["text/plain"]))
        assert "Another" in html and "Secret" not in html
        with pytest.raises(JazzError, match="unknown role 'zed'"):
            switcher.select("zed")
    finally:
        switcher.close()


def test_jazz_as_subcommand(db: jz.Db) -> None:
    switcher = roles(db, [jz.Session("bob")], matrix=False)
    try:
        assert as_command("bob").session == jz.Session("bob")
        eve = as_command("""eve --claims '{"role": "editor"}'""")
        assert switcher.current == "eve" and eve.session.claims == {"role": "editor"}
        eve.insert(APP.posts, {"title": "By eve", "team_id": db.one(APP.teams).id})
        anon = as_command("anon --auth-mode anonymous")
        with pytest.raises(PolicyDenied, match="anonymous"):
            anon.insert(APP.teams, {"name": "x"})
        for line, message in [("", "usage"), ("bob --claims '[1]'", "JSON object"),
                              ("bob --claims '{oops'", "JSON object"),
                              ("bob --role admin", "unknown option"), ("bob --claims", "unknown")]:
            with pytest.raises(JazzError, match=message):
                as_command(line)
    finally:
        switcher.close()
    assert RoleSwitcher.active is None
    with pytest.raises(JazzError, match="show a role switcher first"):
        as_command("bob")


def test_policy_test_app() -> None:
    with PolicyTestApp(APP, define_permissions(APP, rules)) as t:
        team = t.seed(lambda d: d.insert(APP.teams, {"name": "core"}))
        eve, bob = t.as_("eve", {"role": "editor"}), t.as_(jz.Session("bob"))
        row = eve.expect_allowed(lambda b: b.insert(APP.posts, {"title": "x",
                                                                "team_id": team.id}))
        assert row["title"] == "x" and t.db.all(APP.posts) == []  # rolled back
        err = bob.expect_denied(lambda b: b.insert(APP.posts, {"title": "y",
                                                               "team_id": team.id}))
        assert err.operation == "insert" and "claims.role" in err.rule
        with pytest.raises(AssertionError, match="expected session 'bob' to be allowed"):
            bob.expect_allowed(lambda b: b.insert(APP.posts, {"title": "y",
                                                              "team_id": team.id}))
        with pytest.raises(AssertionError, match="to be denied, but the writes were allowed"):
            eve.expect_denied(lambda b: b.insert(APP.teams, {"name": "ok"}))
        assert eve.allowed(lambda b: b.insert(APP.teams, {"name": "ok"}))
        assert not eve.allowed(lambda b: b.insert(APP.teams, {"name": "root"}))
        with pytest.raises(TypeError):
            t.as_(42)  # type: ignore[arg-type]
