"""Ordered pages under a read policy: the page's ids are chosen first, the result is the same."""

from __future__ import annotations

import jazz_nb as jz
from jazz_nb import s

APP = s.define_app({"todos": s.table(title=s.string(), priority=s.int())})
PERMS = s.define_permissions(APP, lambda policy: policy.todos.managed_by_creator())


def test_a_policy_page_equals_the_page_of_the_readable_rows() -> None:
    with jz.create_db(APP, app_id="paging", permissions=PERMS) as db:
        bob = db.for_session(jz.Session("bob"))
        for i in range(12):
            (bob if i % 3 else db).insert(APP.todos, {"title": f"t{i}", "priority": i % 5})
        query = APP.todos.where(priority={"gte": 1}).order_by("priority", "desc")
        readable = [r for r in db.all(query) if r.id in {x.id for x in bob.all(APP.todos)}]
        page = query.limit(3).offset(2)
        compiled = bob.compile(page)
        assert ".id IN (SELECT p" in compiled.sql and "LIMIT 3 OFFSET 2)" in compiled.sql
        assert [r.id for r in bob.all(page)] == [r.id for r in readable[2:5]]
        assert list(bob.df(page).index) == [r.id for r in readable[2:5]]
        assert [r.id for r in db.all(page)] == [r.id for r in db.all(query)[2:5]]
