"""Permissions benchmark: ``python -m bench.policy [rows]``.

A workspace app (1,000 workspaces, 5,000 memberships, 1M documents by default). The session
``alice`` is a member of half the workspaces; documents are readable through an ``exists``
membership policy, inserts need a writer/admin membership.

* Reads: each query runs with the policy pushed into its one DuckDB statement and, on the
  unscoped db, without any policy (target: ≤ 3× that). Beside them, the naive alternative:
  fetch the unfiltered result and filter it in Python (pandas ``isin`` on the member set).
* Writes: the policy check of one insert (target: ≤ 1 ms median; its membership look-up is
  memoised until ``members`` changes — also shown without the memo), beside a naive check
  that loads the members table and scans it in Python; and a whole insert, scoped vs unscoped.

The documents are bulk-loaded straight into their visible table (loading is not measured).

Example:
    >>> # python -m bench.policy 200000
"""

from __future__ import annotations

import sys
import time
from typing import Any

import jazz_nb as jz
from bench.report import median_ms, print_table
from jazz_nb import s
from jazz_nb.policy import define_permissions
from jazz_nb.policy.cache import lookup_cache
from jazz_nb.policy.check import check_write
from jazz_nb.policy.rows import StoreRows
from jazz_nb.store.changes import ChangeSet
from jazz_nb.store.layout import quote, visible_table
from jazz_nb.store.versions import new_row_id

APP = s.define_app({
    "workspaces": s.table(name=s.string()),
    "members": s.table(workspace_id=s.ref("workspaces"), user_id=s.string(),
                       role=s.enum("reader", "writer", "admin")),
    "documents": s.table(title=s.string(), words=s.int(), workspace_id=s.ref("workspaces")),
})
WORKSPACES = 1_000


def rules(policy: Any, session: Any, any_of: Any) -> None:
    """Members read a workspace's documents; writers and admins add to it."""
    policy.documents.allow_read.where(lambda doc: policy.members.exists.where(
        {"workspace_id": doc.workspace_id, "user_id": session.user_id}))
    policy.documents.allow_insert.where(lambda doc: any_of([
        policy.members.exists.where({"workspace_id": doc.workspace_id,
                                     "user_id": session.user_id, "role": role})
        for role in ("writer", "admin")]))
    policy.members.allow_read.where({"user_id": session.user_id})


def load(rows: int) -> tuple[jz.Db, list[str]]:
    """The db with workspaces and members written normally and ``rows`` documents bulk-loaded."""
    db = jz.create_db(APP, app_id="bench-policy", permissions=define_permissions(APP, rules))
    workspaces = [r.id for r in [db.insert(APP.workspaces, {"name": f"w{i}"})
                                 for i in range(WORKSPACES)]]
    members = [{"workspace_id": ws, "user_id": f"user{(i * 7 + k) % 200}",
                "role": ("reader", "writer", "admin")[k % 3]}
               for i, ws in enumerate(workspaces) for k in range(4)]
    members += [{"workspace_id": ws, "user_id": "alice", "role": "writer"}
                for ws in workspaces[::2]]
    db.insert_many(APP.members, members)
    table = quote(visible_table("documents", APP.schema_hash))
    ids = ", ".join(f"'{w}'" for w in workspaces)
    with db.store.lock:
        db.store.conn.execute(
            f"INSERT INTO {table} (id, title, words, workspace_id, \"$createdBy\", "
            "\"$createdAt\", \"$updatedBy\", \"$updatedAt\", _jz_batch) "
            f"SELECT uuid(), 'doc ' || i, (i * 7919) % 5000, ([{ids}]::UUID[])[i % "
            f"{WORKSPACES} + 1], 'loader', 0, 'loader', 0, '{new_row_id()}'::UUID "
            f"FROM range({rows}) r(i)")
    return db, workspaces


def python_filter(db: jz.Db, query: Any, member_of: set[str]) -> Any:
    """The naive read: unfiltered result, filtered in Python."""
    frame = db.df(query)
    return frame[frame["workspace_id"].isin(member_of)]


def naive_check(db: jz.Db, workspace_id: str) -> bool:
    """The naive write check: load every membership and scan it in Python."""
    members = db.store.execute(
        f"SELECT CAST(workspace_id AS VARCHAR), user_id, role FROM "
        f"{quote(visible_table('members', APP.schema_hash))} WHERE _jz_deleted IS NULL"
    ).fetchall()
    return any(w == workspace_id and u == "alice" and r in ("writer", "admin")
               for w, u, r in members)


def main(rows: int = 1_000_000) -> None:
    start = time.perf_counter()
    db, workspaces = load(rows)
    print(f"loaded {rows:,} documents in {time.perf_counter() - start:.1f} s")
    alice = db.for_session(jz.Session("alice"))
    member_of = set(workspaces[::2])
    queries = {
        "all documents (Arrow)": APP.documents,
        "where words >= 4000": APP.documents.where(words={"gte": 4000}),
        "order by words desc, limit 50": APP.documents.order_by("words", "desc").limit(50),
    }
    table = []
    for name, query in queries.items():
        with_policy = median_ms(lambda q=query: alice.arrow(q), repeat=7)
        without = median_ms(lambda q=query: db.arrow(q), repeat=7)
        naive = median_ms(lambda q=query: python_filter(db, q.limit(None), member_of).head(
            q.row_limit), repeat=3)
        ratio = with_policy / without
        table.append((name, f"{with_policy:.1f}", f"{without:.1f}", f"{ratio:.2f}x", "<= 3x",
                      "yes" if ratio <= 3 else "NO", f"{naive:.1f}"))
    print_table(f"Reads over {rows:,} documents, alice sees {len(alice.arrow(APP.documents)):,}",
                table, ("query", "policy ms", "no policy ms", "ratio", "target", "ok",
                        "naive python filter ms"))

    writable = workspaces[0]
    source = alice.compile_context().source
    perms = db.engine.permissions
    values = {"title": "new", "words": 1, "workspace_id": writable}

    def check() -> None:
        check_write(APP, perms, alice.session, StoreRows(db.store, APP, source), "insert",
                    "documents", None, values, new_row_id())

    check()
    warm = median_ms(check, repeat=300)
    cold = median_ms(check, repeat=50, setup=lambda: lookup_cache(db.store).changed(
        ChangeSet({"members": ()})))
    naive_ms = median_ms(lambda: naive_check(db, writable), repeat=50)
    scoped = median_ms(lambda: alice.insert(APP.documents, values), repeat=100)
    unscoped = median_ms(lambda: db.insert(APP.documents, values), repeat=100)
    print_table("Writes", [
        ("policy check of one insert (ms)", f"{warm:.3f}", f"{naive_ms:.3f}",
         f"{warm / naive_ms:.2f}x", "<= 1 ms", "yes" if warm <= 1 else "NO"),
        ("  same, look-ups not memoised (ms)", f"{cold:.3f}", f"{naive_ms:.3f}",
         f"{cold / naive_ms:.2f}x", "-", "-"),
        ("insert, scoped vs unscoped (ms)", f"{scoped:.3f}", f"{unscoped:.3f}",
         f"{scoped / unscoped:.2f}x", "-", "-"),
    ])
    db.close()


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000)
