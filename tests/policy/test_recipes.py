"""Jazz's five access-control recipes, each checked as a policy matrix over several sessions.

Every matrix cell is a real write (rolled back) or a read through a session-scoped db, so the
tables below read like the recipes' "roles at a glance".
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from jazz_nb import s
from jazz_nb.policy import define_permissions
from jazz_nb.testing.policy_app import PolicyTestApp, PolicyTestDb

Action = Callable[[PolicyTestDb], Any]


def matrix(t: PolicyTestApp, users: list[str], actions: dict[str, Action]) -> dict[str, str]:
    """One line per user: ``Y``/``n`` per write action, a count per read action."""
    out = {}
    for user in users:
        db = t.as_(user)
        cells = []
        for action in actions.values():
            result = action(db)
            cells.append(str(result) if isinstance(result, int) and not isinstance(
                result, bool) else "Y" if result else "n")
        out[user] = " ".join(cells)
    return out


def can(fn: Callable[[Any], Any]) -> Action:
    return lambda db: db.allowed(fn)


def count(query: Any) -> Action:
    return lambda db: len(db.all(query))


# -- 1. group permissions --------------------------------------------------------------------
WORKSPACE = s.define_app({
    "workspaces": s.table(name=s.string()),
    "workspace_members": s.table(workspace_id=s.ref("workspaces"), user_id=s.string(),
                                 role=s.enum("reader", "writer", "contributor", "admin")),
    "documents": s.table(title=s.string(), content=s.string(),
                         workspace_id=s.ref("workspaces")),
})


def workspace_rules(policy: Any, session: Any, any_of: Any, all_of: Any) -> None:
    def is_member(workspace_id: Any) -> Any:
        return policy.workspace_members.exists.where(
            {"workspace_id": workspace_id, "user_id": session.user_id})

    def has_role(workspace_id: Any, role: str) -> Any:
        return policy.workspace_members.exists.where(
            {"workspace_id": workspace_id, "user_id": session.user_id, "role": role})

    def edit_rule(doc: Any) -> Any:
        return any_of([has_role(doc.workspace_id, "writer"), has_role(doc.workspace_id, "admin"),
                       all_of([{"$createdBy": session.user_id},
                               has_role(doc.workspace_id, "contributor")])])

    policy.documents.allow_read.where(lambda doc: is_member(doc.workspace_id))
    policy.documents.allow_insert.where(lambda doc: any_of(
        [has_role(doc.workspace_id, r) for r in ("writer", "contributor", "admin")]))
    policy.documents.allow_update.where(edit_rule)
    policy.documents.allow_delete.where(edit_rule)
    policy.workspaces.allow_read.where(lambda w: is_member(w.id))
    policy.workspaces.allow_insert.always()
    policy.workspaces.allow_update.where(lambda w: has_role(w.id, "admin"))
    policy.workspaces.allow_delete.where(lambda w: has_role(w.id, "admin"))
    policy.workspace_members.allow_read.where(lambda m: is_member(m.workspace_id))
    policy.workspace_members.allow_insert.where(lambda m: any_of([
        has_role(m.workspace_id, "admin"),
        all_of([{"user_id": session.user_id, "role": "admin"},
                policy.workspaces.exists.where({"id": m.workspace_id,
                                                "$createdBy": session.user_id})]),
    ]))
    policy.workspace_members.allow_update.where(lambda m: has_role(m.workspace_id, "admin"))
    policy.workspace_members.allow_delete.where(lambda m: any_of([
        has_role(m.workspace_id, "admin"), {"user_id": session.user_id}]))


def test_group_permissions() -> None:
    app = WORKSPACE
    with PolicyTestApp(app, define_permissions(app, workspace_rules)) as t:
        roles = ["reader", "contributor", "writer", "admin"]

        def seed(db: Any) -> tuple[Any, Any, dict[str, Any]]:
            ws = db.insert(app.workspaces, {"name": "Acme"})
            members = {r: db.insert(app.workspace_members,
                                    {"workspace_id": ws.id, "user_id": r, "role": r})
                       for r in roles}
            doc = db.insert(app.documents, {"title": "Plan", "content": "…",
                                            "workspace_id": ws.id})
            return ws, doc, members

        ws, doc, members = t.seed(seed)
        new_doc = {"title": "New", "content": "", "workspace_id": ws.id}

        def edit_own(b: Any) -> None:
            b.update(app.documents, b.insert(app.documents, new_doc).id, {"title": "Mine"})

        def leave(db: PolicyTestDb) -> bool:
            member = members.get(db.session.user_id)  # type: ignore[union-attr]
            return member is not None and db.allowed(
                lambda b: b.delete(app.workspace_members, member.id))

        actions = {
            "read": count(app.documents),
            "create": can(lambda b: b.insert(app.documents, new_doc)),
            "edit own": can(edit_own),
            "edit any": can(lambda b: b.update(app.documents, doc.id, {"title": "x"})),
            "delete any": can(lambda b: b.delete(app.documents, doc.id)),
            "manage members": can(lambda b: b.insert(app.workspace_members, {
                "workspace_id": ws.id, "user_id": "newbie", "role": "reader"})),
            "leave": leave,
        }
        assert matrix(t, [*roles, "outsider"], actions) == {
            "reader": "1 n n n n n Y",
            "contributor": "1 Y Y n n n Y",
            "writer": "1 Y Y Y Y n Y",
            "admin": "1 Y Y Y Y Y Y",
            "outsider": "0 n n n n n n",
        }
        # bootstrap: whoever creates a workspace may add themselves as its first admin
        outsider = t.as_("outsider")
        mine = outsider.insert(app.workspaces, {"name": "Mine"})
        outsider.insert(app.workspace_members,
                        {"workspace_id": mine.id, "user_id": "outsider", "role": "admin"})
        outsider.expect_denied(lambda b: b.insert(app.workspace_members, {
            "workspace_id": ws.id, "user_id": "outsider", "role": "admin"}))
        assert [w["name"] for w in outsider.all(app.workspaces)] == ["Mine"]


# -- 2. shared access --------------------------------------------------------------------------
SHARING = s.define_app({
    "todos": s.table(title=s.string(), done=s.boolean()),
    "todo_shares": s.table(todo_id=s.ref("todos"), user_id=s.string(), can_edit=s.boolean()),
})


def sharing_rules(policy: Any, session: Any, any_of: Any) -> None:
    policy.todos.allow_read.where(lambda todo: any_of([
        {"$createdBy": session.user_id},
        policy.todo_shares.exists.where({"todo_id": todo.id, "user_id": session.user_id}),
    ]))
    policy.todos.allow_insert.always()
    policy.todos.allow_update.where(lambda todo: any_of([
        {"$createdBy": session.user_id},
        policy.todo_shares.exists.where({"todo_id": todo.id, "user_id": session.user_id,
                                         "can_edit": True}),
    ]))
    policy.todos.allow_delete.where({"$createdBy": session.user_id})
    def owns_todo(share: Any) -> Any:
        return policy.todos.exists.where({"id": share.todo_id, "$createdBy": session.user_id})

    policy.todo_shares.allow_insert.where(owns_todo)
    policy.todo_shares.allow_read.where({"user_id": session.user_id})
    policy.todo_shares.allow_delete.where(owns_todo)


def test_shared_access() -> None:
    app = SHARING
    with PolicyTestApp(app, define_permissions(app, sharing_rules)) as t:
        owner = t.as_("owner")
        todo = owner.insert(app.todos, {"title": "Buy milk", "done": False})
        owner.insert(app.todo_shares, {"todo_id": todo.id, "user_id": "editor", "can_edit": True})
        share = owner.insert(app.todo_shares, {"todo_id": todo.id, "user_id": "viewer",
                                               "can_edit": False})
        actions = {
            "read": count(app.todos),
            "update": can(lambda b: b.update(app.todos, todo.id, {"done": True})),
            "delete": can(lambda b: b.delete(app.todos, todo.id)),
            "share": can(lambda b: b.insert(app.todo_shares, {
                "todo_id": todo.id, "user_id": "friend", "can_edit": False})),
            "revoke": can(lambda b: b.delete(app.todo_shares, share.id)),
        }
        assert matrix(t, ["owner", "editor", "viewer", "stranger"], actions) == {
            "owner": "1 Y Y Y Y",
            "editor": "1 Y n n n",
            "viewer": "1 n n n n",
            "stranger": "0 n n n n",
        }
        owner.delete(app.todo_shares, share.id)  # revoking removes the viewer's access
        assert t.as_("viewer").all(app.todos) == []


# -- 3. user-owned data ------------------------------------------------------------------------
OWNED = s.define_app({"todos": s.table(title=s.string(), done=s.boolean(),
                                       owner_id=s.string().optional())})


def owned_rules(policy: Any, session: Any) -> None:
    policy.todos.allow_read.where({"$createdBy": session.user_id})
    policy.todos.allow_insert.always()
    policy.todos.allow_update.where({"$createdBy": session.user_id})
    policy.todos.allow_delete.where({"$createdBy": session.user_id})


def test_user_owned_data() -> None:
    app = OWNED
    with PolicyTestApp(app, define_permissions(app, owned_rules)) as t:
        todo = t.as_("alice").insert(app.todos, {"title": "Mine", "done": False})
        actions = {
            "read": count(app.todos),
            "insert": can(lambda b: b.insert(app.todos, {"title": "x", "done": False})),
            "update": can(lambda b: b.update(app.todos, todo.id, {"done": True})),
            "delete": can(lambda b: b.delete(app.todos, todo.id)),
        }
        assert matrix(t, ["alice", "bob"], actions) == {"alice": "1 Y Y Y", "bob": "0 Y n n"}


def test_user_owned_data_with_an_owner_column_and_transfer() -> None:
    """``where_old`` alone also checks the new row (Jazz's compiler, §5.6 ⚠): transfers need
    ``.where_new({})``."""
    def strict(policy: Any, session: Any) -> None:
        policy.todos.allow_read.where({"owner_id": session.user_id})
        policy.todos.allow_insert.where({"owner_id": session.user_id})
        policy.todos.allow_update.where_old({"owner_id": session.user_id})
        policy.todos.allow_delete.where({"owner_id": session.user_id})

    def transferable(policy: Any, session: Any) -> None:
        strict(policy, session)
        policy.todos.allow_update.where_old({"owner_id": session.user_id}).where_new({})

    app = OWNED
    for rules, transfer in ((strict, False), (transferable, True)):
        with PolicyTestApp(app, define_permissions(app, rules)) as t:
            alice, bob = t.as_("alice"), t.as_("bob")
            todo = alice.insert(app.todos, {"title": "t", "done": False, "owner_id": "alice"})
            bob.expect_denied(lambda b: b.insert(app.todos, {"title": "t", "done": False,
                                                             "owner_id": "alice"}))
            def give(b: Any, todo: Any = todo) -> None:
                b.update(app.todos, todo.id, {"owner_id": "bob"})

            assert alice.allowed(give) is transfer
            bob.expect_denied(give)


# -- 4. nested data ------------------------------------------------------------------------------
NESTED = s.define_app({
    "projects": s.table(name=s.string()),
    "tasks": s.table(title=s.string(), done=s.boolean(), project_id=s.ref("projects")),
    "comments": s.table(body=s.string(), task_id=s.ref("tasks")),
})


def nested_rules(policy: Any, allowed_to: Any, session: Any) -> None:
    policy.projects.allow_read.where({"$createdBy": session.user_id})
    policy.projects.allow_insert.always()
    policy.projects.allow_update.where({"$createdBy": session.user_id})
    policy.projects.allow_delete.where({"$createdBy": session.user_id})
    policy.tasks.allow_read.where(allowed_to.read("project_id"))
    policy.tasks.allow_insert.where(allowed_to.read("project_id"))
    policy.tasks.allow_update.where(allowed_to.update("project_id"))
    policy.tasks.allow_delete.where(allowed_to.delete("project"))
    policy.comments.allow_read.where(allowed_to.read("task_id"))
    policy.comments.allow_insert.where(allowed_to.read("task_id"))
    policy.comments.allow_update.where({"$createdBy": session.user_id})
    policy.comments.allow_delete.where({"$createdBy": session.user_id})


def test_nested_data() -> None:
    app = NESTED
    with PolicyTestApp(app, define_permissions(app, nested_rules)) as t:
        creator = t.as_("creator")
        project = creator.insert(app.projects, {"name": "Website"})
        task = creator.insert(app.tasks, {"title": "Homepage", "done": False,
                                          "project_id": project.id})
        comment = creator.insert(app.comments, {"body": "Looks good", "task_id": task.id})
        actions = {
            "projects": count(app.projects),
            "tasks": count(app.tasks),
            "comments": count(app.comments),
            "add task": can(lambda b: b.insert(app.tasks, {"title": "x", "done": False,
                                                           "project_id": project.id})),
            "edit task": can(lambda b: b.update(app.tasks, task.id, {"done": True})),
            "delete task": can(lambda b: b.delete(app.tasks, task.id)),
            "comment": can(lambda b: b.insert(app.comments, {"body": "hi",
                                                             "task_id": task.id})),
            "edit comment": can(lambda b: b.update(app.comments, comment.id, {"body": "x"})),
        }
        assert matrix(t, ["creator", "other"], actions) == {
            "creator": "1 1 1 Y Y Y Y Y",
            "other": "0 0 0 n n n n n",
        }
        nested = creator.one(app.projects.include(
            tasks_via_project={"include": {"comments_via_task": True}}))
        assert nested["tasks_via_project"][0]["comments_via_task"][0]["body"] == "Looks good"


# -- 5. collaborative list -------------------------------------------------------------------
COLLAB = s.define_app({
    "projects": s.table(name=s.string()),
    "tasks": s.table(title=s.string(), done=s.boolean(), assignee_id=s.string().optional(),
                     project_id=s.ref("projects")),
    "project_members": s.table(project_id=s.ref("projects"), user_id=s.string()),
})


def collab_rules(policy: Any, any_of: Any, allowed_to: Any, session: Any) -> None:
    policy.projects.allow_read.where(lambda project: any_of([
        {"$createdBy": session.user_id},
        policy.project_members.exists.where({"project_id": project.id,
                                             "user_id": session.user_id}),
    ]))
    policy.projects.allow_insert.always()
    policy.projects.allow_update.where({"$createdBy": session.user_id})
    policy.tasks.allow_read.where(allowed_to.read("project_id"))
    policy.tasks.allow_insert.where(allowed_to.read("project_id"))
    policy.tasks.allow_update.where(allowed_to.read("project_id"))
    def created_project(member: Any) -> Any:
        return policy.projects.exists.where({"id": member.project_id,
                                             "$createdBy": session.user_id})

    policy.project_members.allow_insert.where(created_project)
    policy.project_members.allow_read.where(lambda member: any_of([
        created_project(member), {"user_id": session.user_id}]))


def test_collaborative_list() -> None:
    app = COLLAB
    with PolicyTestApp(app, define_permissions(app, collab_rules)) as t:
        creator = t.as_("creator")
        project = creator.insert(app.projects, {"name": "Launch"})
        creator.insert(app.project_members, {"project_id": project.id, "user_id": "member"})
        creator.insert(app.project_members, {"project_id": project.id, "user_id": "other"})
        task = creator.insert(app.tasks, {"title": "Write post", "done": False,
                                          "project_id": project.id})
        actions = {
            "projects": count(app.projects),
            "tasks": count(app.tasks),
            "members": count(app.project_members),
            "add task": can(lambda b: b.insert(app.tasks, {"title": "x", "done": False,
                                                           "project_id": project.id})),
            "complete": can(lambda b: b.update(app.tasks, task.id, {"done": True})),
            "delete task": can(lambda b: b.delete(app.tasks, task.id)),  # falls back to update
            "invite": can(lambda b: b.insert(app.project_members, {
                "project_id": project.id, "user_id": "new"})),
            "rename": can(lambda b: b.update(app.projects, project.id, {"name": "x"})),
        }
        assert matrix(t, ["creator", "member", "stranger"], actions) == {
            "creator": "1 1 2 Y Y Y Y Y",
            "member": "1 1 1 Y Y Y n n",
            "stranger": "0 0 0 n n n n n",
        }
        # both collaborators see each other's changes through their own live queries
        with creator.live(app.tasks.where(done=False)) as mine, \
                t.as_("member").live(app.tasks.where(done=False)) as theirs:
            t.as_("member").insert(app.tasks, {"title": "Tweet", "done": False,
                                               "project_id": project.id})
            creator.update(app.tasks, task.id, {"done": True})
            t.db.flush()
            assert sorted(mine.df["title"]) == sorted(theirs.df["title"]) == ["Tweet"]
