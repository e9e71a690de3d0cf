"""The permissions DSL — Jazz's ``definePermissions`` in Python form (§5.2).

``define_permissions(app, rules)`` calls ``rules`` with the helpers its signature names
(``policy, session, any_of, all_of, allowed_to, is_creator``); each ``policy.<table>.allow_*``
call registers a rule, checked at once against the schema. Rules of one table and operation are
OR-ed; the result is a ``Permissions`` bundle of ``PolicyExpr`` trees.

Example:
    >>> from jazz_nb import s
    >>> app = s.define_app({"todos": s.table(title=s.string(), owner_id=s.string())})
    >>> def rules(policy, session):
    ...     policy.todos.allow_read.where({"owner_id": session.user_id})
    ...     policy.todos.allow_insert.always()
    >>> perms = define_permissions(app, rules)
    >>> perms.to_json()["todos"]["select"]["using"]["value"]
    {'type': 'SessionRef', 'path': ['user_id']}
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from jazz_nb.errors import PolicyError, QueryError
from jazz_nb.policy import ir
from jazz_nb.policy.bundle import Permissions, TablePolicies
from jazz_nb.policy.columns import (
    ColumnInfo,
    column_info,
    columns_of,
    reference_of,
    table_of,
)
from jazz_nb.query.columns import resolve

if TYPE_CHECKING:
    from jazz_nb.schema.app import App

HELPERS = ("policy", "session", "any_of", "all_of", "allowed_to", "is_creator")
_CMP = {"eq": "Eq", "ne": "Ne", "gt": "Gt", "gte": "Ge", "lt": "Lt", "lte": "Le"}
_SESSION_OPS = (*_CMP, "is_null", "contains", "in")
_SESSION_FIELDS = ("user_id", "userId", "auth_mode", "authMode")


# -- values a condition can compare with ------------------------------------------------------
@dataclass(frozen=True)
class SessionValue:
    """A session value used in a condition: ``session.user_id``, ``session["claims.role"]``."""

    path: tuple[str, ...]


@dataclass(frozen=True)
class RowRef:
    """A column of the row a rule checks (``row.project_id`` in ``.where(lambda row: ...)``)."""

    table: str
    column: str


class RowProxy:
    """The ``row`` a rule callback receives: attributes (or ``row["$createdBy"]``) are columns.

    Example: ``policy.todos.allow_read.where(lambda todo: policy.shares.exists.where(
    {"todo_id": todo.id}))``
    """

    def __init__(self, app: App, table: str) -> None:
        self._app = app
        self._table = table

    def __getattr__(self, name: str) -> RowRef:
        if name.startswith("_"):
            raise AttributeError(name)
        return self[name]

    def __getitem__(self, name: str) -> RowRef:
        column_info(self._app, self._table, name, f"row of {self._table!r}")
        return RowRef(self._table, name)


class SessionProxy:
    """The ``session`` helper: ``session.user_id``, ``session["claims.x.y"]``, ``session.where``.

    Example:
        >>> SessionProxy()["claims.org.role"]
        SessionValue(path=('claims', 'org', 'role'))
    """

    @property
    def user_id(self) -> SessionValue:
        """The session's user id."""
        return SessionValue(("user_id",))

    userId = user_id

    @property
    def auth_mode(self) -> SessionValue:
        """``"external"``, ``"local-first"`` or ``"anonymous"``."""
        return SessionValue(("auth_mode",))

    authMode = auth_mode

    def __getitem__(self, path: str) -> SessionValue:
        return SessionValue(session_path(path))

    def where(self, conditions: Mapping[str, Any]) -> Condition:
        """Conditions on the session alone (literals only), AND-ed.

        Example: ``session.where({"claims.role": "manager", "authMode": {"ne": "anonymous"}})``
        """
        if not isinstance(conditions, Mapping):
            raise PolicyError("session.where takes a dict of session path -> value")
        exprs = [e for key, spec in conditions.items() for e in _session_conditions(key, spec)]
        expr = ir.all_of(exprs)
        return Condition(lambda scope: expr, f"session.where({dict(conditions)!r})")


def session_path(path: Any) -> tuple[str, ...]:
    """``"claims.x.y"`` → ``("claims", "x", "y")``; a ``PolicyError`` if it is not a path.

    Example:
        >>> session_path("userId")
        ('userId',)
    """
    if not isinstance(path, str):
        raise PolicyError(f"a session path is a string such as 'claims.role', got "
                          f"{type(path).__name__} {path!r}")
    parts = tuple(path.split("."))
    if path in _SESSION_FIELDS or (parts[0] == "claims" and len(parts) > 1 and all(parts)):
        return parts
    raise PolicyError(f"unknown session path {path!r}: use user_id, auth_mode or 'claims.<name>'")


def _session_conditions(key: Any, spec: Any) -> list[ir.PolicyExpr]:
    path = session_path(key)
    ops = spec.items() if isinstance(spec, Mapping) else [("eq", spec)]
    out: list[ir.PolicyExpr] = []
    for op, value in ops:
        if op not in _SESSION_OPS:
            raise PolicyError(f"unknown operator {op!r} in session.where for {key!r} "
                              f"(operators: {', '.join(_SESSION_OPS)})", operator=str(op))
        values = value if op == "in" and isinstance(value, (list, tuple)) else [value]
        for item in values:
            if op != "is_null" and not (item is None or isinstance(item, (str, bool, int))):
                raise PolicyError(f"session.where({key!r}): {op} takes literal text, integers, "
                                  f"booleans or None, got {item!r}", operator=op)
        if op == "is_null" or (value is None and op in ("eq", "ne")):
            if op == "is_null" and not isinstance(value, bool):
                raise PolicyError(f"session.where({key!r}): is_null takes True or False",
                                  operator=op)
            null = value if op == "is_null" else op == "eq"
            out.append(ir.SessionIsNull(path) if null else ir.SessionIsNotNull(path))
        elif op == "contains":
            out.append(ir.SessionContains(path, value))
        elif op == "in":
            if not isinstance(value, (list, tuple)):
                raise PolicyError(f"session.where({key!r}): 'in' needs a list", operator=op)
            out.append(ir.SessionInList(path, tuple(value)) if value else ir.FALSE)
        else:
            out.append(ir.SessionCmp(path, _CMP[op], value))  # type: ignore[arg-type]
    return out


# -- conditions ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Scope:
    """Where a condition is resolved: the table its columns belong to, and for ``exists``
    conditions the table of the row it is evaluated from."""

    app: App
    table: str
    where: str
    outer: str | None = None
    exists_depth: int = 0


class Condition:
    """A condition resolved against the table it ends up applied to.

    Dicts, ``any_of``/``all_of``, ``exists.where``, ``allowed_to.*``, ``is_creator`` and
    ``session.where`` are conditions.
    """

    def __init__(self, build: Callable[[Scope], ir.PolicyExpr], label: str) -> None:
        self._build = build
        self.label = label

    def resolve(self, scope: Scope) -> ir.PolicyExpr:
        """The ``PolicyExpr`` of this condition on ``scope.table``."""
        return self._build(scope)

    def __repr__(self) -> str:
        return f"<condition {self.label}>"


def to_expr(cond: Any, scope: Scope) -> ir.PolicyExpr:
    """Resolve a condition-like value (a dict or a ``Condition``) on ``scope``."""
    if isinstance(cond, Condition):
        return cond.resolve(scope)
    if isinstance(cond, Mapping):
        return _where_dict(cond, scope)
    raise PolicyError(f"{scope.where}: expected a condition (a dict of column conditions, "
                      "any_of/all_of, policy.<table>.exists.where, allowed_to.*, is_creator or "
                      f"session.where), got {type(cond).__name__} {cond!r}"
                      + (" — use .always() / .never()" if isinstance(cond, bool) else ""),
                      table=scope.table)


def _where_dict(mapping: Mapping[Any, Any], scope: Scope) -> ir.PolicyExpr:
    exprs: list[ir.PolicyExpr] = []
    for name, spec in mapping.items():
        info = column_info(scope.app, scope.table, name, scope.where)
        exprs += _column_conditions(info, spec, scope)
    return ir.all_of(exprs)


def _column_conditions(info: ColumnInfo, spec: Any, scope: Scope) -> list[ir.PolicyExpr]:
    column = resolve(scope.app, scope.table, info.name)
    if spec is None:
        ops: list[tuple[Any, Any]] = [("is_null", True)]
    elif isinstance(spec, Mapping) and (info.kind != "json" or (spec and all(
            k in (*_CMP, "is_null", "in", "contains") for k in spec))):
        ops = list(spec.items())
    else:
        ops = [("eq", spec)]
    out = []
    for op, value in ops:
        try:
            column.check(op)
            out.append(_one_condition(column, info, op, value, scope))
        except QueryError as err:
            raise PolicyError(f"{scope.where}: {err}", table=scope.table, column=info.name,
                              operator=str(op)) from None
    return out


def _one_condition(column: Any, info: ColumnInfo, op: str, value: Any,
                   scope: Scope) -> ir.PolicyExpr:
    name = info.name
    if op == "is_null" or (value is None and op in ("eq", "ne")):
        null = column.coerce("is_null", value) if op == "is_null" else op == "eq"
        return ir.IsNull(name) if null else ir.IsNotNull(name)
    if op == "in":
        if isinstance(value, SessionValue):
            return ir.In(name, value.path)
        if not isinstance(value, (list, tuple)):
            raise QueryError(f"'in' on {scope.table}.{name} needs a list or a session value "
                             f"such as session['claims.ids'], got {value!r}")
        items = tuple(_policy_value(column, info, "eq", v, scope) for v in value)
        return ir.InList(name, items) if items else ir.FALSE
    policy_value = _policy_value(column, info, op, value, scope)
    if op == "contains":
        return ir.Contains(name, policy_value)
    return ir.Cmp(name, _CMP[op], policy_value)  # type: ignore[arg-type]


def _policy_value(column: Any, info: ColumnInfo, op: str, value: Any,
                  scope: Scope) -> ir.PolicyValue:
    if isinstance(value, SessionValue):
        return ir.SessionRef(value.path)
    if isinstance(value, RowRef):
        return _row_ref(info, op, value, scope)
    if isinstance(value, (RowProxy, SessionProxy, Condition)):
        raise QueryError(f"{scope.table}.{info.name} {op}: expected a value, got {value!r}")
    return ir.Lit(column.encode(op, column.coerce(op, value)))


def _row_ref(info: ColumnInfo, op: str, ref: RowRef, scope: Scope) -> ir.SessionRef:
    if scope.outer is None or scope.exists_depth != 1 or ref.table != scope.outer:
        raise PolicyError(f"{scope.where}: row references (row.{ref.column}) are only valid "
                          "directly inside policy.<table>.exists.where(...)", table=scope.table,
                          column=info.name)
    outer = columns_of(scope.app, ref.table)[ref.column]
    expected = (info.kind if op != "contains" else "text" if info.kind == "text"
                else info.element or "")
    compatible = {expected, outer.kind} in ({"int", "float"}, {"uuid", "text"})
    if (outer.kind != expected and not compatible) or (outer.is_array and op != "eq"):
        raise PolicyError(f"{scope.where}: cannot compare {scope.table}.{info.name} "
                          f"({info.kind}) {op} {ref.table}.{ref.column} ({outer.kind})",
                          table=scope.table, column=info.name, operator=op)
    if op in ("gt", "gte", "lt", "lte") and "uuid" in (expected, outer.kind) and (
            expected != outer.kind):
        raise PolicyError(f"{scope.where}: cannot order {scope.table}.{info.name} against "
                          f"{ref.table}.{ref.column}", table=scope.table, column=info.name)
    return ir.SessionRef((ir.OUTER_ROW, ref.column))


def _conditions(items: tuple[Any, ...]) -> list[Any]:
    if len(items) == 1 and isinstance(items[0], (list, tuple)):
        return list(items[0])
    return list(items)


def any_of(*conditions: Any) -> Condition:
    """OR of conditions (a list or several arguments); empty → never.

    Example: ``any_of([{"owner_id": session.user_id}, {"public": True}])``
    """
    items = _conditions(conditions)
    return Condition(lambda scope: ir.any_of([to_expr(c, scope) for c in items]),
                     f"any_of({items!r})")


def all_of(*conditions: Any) -> Condition:
    """AND of conditions (a list or several arguments); empty → always.

    Example: ``all_of([{"$createdBy": session.user_id}, has_role("contributor")])``
    """
    items = _conditions(conditions)
    return Condition(lambda scope: ir.all_of([to_expr(c, scope) for c in items]),
                     f"all_of({items!r})")


IS_CREATOR = Condition(lambda scope: ir.Cmp("$createdBy", "Eq", ir.SessionRef(("user_id",))),
                       "is_creator")


def check_max_depth(max_depth: Any) -> int | None:
    """``None`` (default 10) or an int in 1..64; anything else is a ``PolicyError``.

    Example:
        >>> check_max_depth(0)
        Traceback (most recent call last):
        ...
        jazz_nb.errors.PolicyError: max_depth must be a positive integer up to 64, got 0
    """
    if max_depth is None:
        return None
    if isinstance(max_depth, bool) or not isinstance(max_depth, int) or not (
            0 < max_depth <= ir.MAX_DEPTH_CAP):
        raise PolicyError(f"max_depth must be a positive integer up to {ir.MAX_DEPTH_CAP}, "
                          f"got {max_depth!r}")
    return max_depth


_OPERATION = {"read": "Select", "insert": "Insert", "update": "Update", "delete": "Delete"}


class AllowedTo:
    """``allowed_to.read("project_id", max_depth=5)``: inherit the parent row's permission;
    ``allowed_to.read_referencing(policy.uploads, "file_id")``: inherit from referencing rows.
    A NULL foreign key passes."""

    def __getattr__(self, name: str) -> Callable[..., Condition]:
        verb, _, referencing = name.partition("_")
        if verb not in _OPERATION or referencing not in ("", "referencing"):
            raise AttributeError(f"allowed_to has no {name!r} (read, insert, update, delete, "
                                 "and their *_referencing forms)")
        operation = _OPERATION[verb]
        if referencing:
            return lambda source, fk, *, max_depth=None: self._referencing(
                operation, source, fk, check_max_depth(max_depth))
        return lambda fk, *, max_depth=None: self._inherits(operation, fk,
                                                            check_max_depth(max_depth))

    @staticmethod
    def _inherits(operation: Any, fk: Any, depth: int | None) -> Condition:
        if not isinstance(fk, str):
            raise PolicyError(f"allowed_to takes a foreign key column name, got {fk!r}")

        def build(scope: Scope) -> ir.PolicyExpr:
            columns = columns_of(scope.app, scope.table)
            name = next((c for c in (fk, f"{fk}Id", f"{fk}_id") if c in columns), fk)
            reference_of(scope.app, scope.table, name, scope.where)
            return ir.Inherits(operation, name, depth)

        return Condition(build, f"allowed_to({operation}, {fk!r})")

    @staticmethod
    def _referencing(operation: Any, source: Any, fk: Any, depth: int | None) -> Condition:
        source_table = source.table if isinstance(source, TableRules) else source
        if not isinstance(source_table, str) or not isinstance(fk, str):
            raise PolicyError("allowed_to.*_referencing takes policy.<table> and a foreign key "
                              "column name")

        def build(scope: Scope) -> ir.PolicyExpr:
            target = reference_of(scope.app, source_table, fk, scope.where, allow_array=True)
            if target != scope.table:
                raise PolicyError(f"{scope.where}: {source_table}.{fk} references {target!r}, "
                                  f"not {scope.table!r}", table=scope.table, column=fk)
            return ir.InheritsReferencing(operation, source_table, fk, depth)

        return Condition(build, f"allowed_to({operation}, referencing {source_table}.{fk})")


# -- rules --------------------------------------------------------------------------------------
class _Registry:
    """Resolved rules: per (table, clause attribute), the expressions to OR."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.clauses: dict[tuple[str, str], list[ir.PolicyExpr]] = {}
        self.updates: list[UpdateRule] = []

    def add(self, table: str, attr: str, expr: ir.PolicyExpr) -> None:
        self.clauses.setdefault((table, attr), []).append(expr)

    def resolve(self, table: str, cond: Any, where: str) -> ir.PolicyExpr:
        if callable(cond) and not isinstance(cond, Condition):
            cond = cond(RowProxy(self.app, table))
            if not isinstance(cond, (Condition, Mapping)):
                raise PolicyError(f"{where}: the callback must return a condition (a dict, "
                                  "any_of/all_of, exists, allowed_to, ...), got "
                                  f"{type(cond).__name__} {cond!r}", table=table)
        return to_expr(cond, Scope(self.app, table, where))

    def bundle(self) -> Permissions:
        for rule in self.updates:
            old, new = rule.old, rule.new
            self.add(rule.table, "update_using", old if old is not None else new)  # type: ignore
            self.add(rule.table, "update_check", new if new is not None else old)  # type: ignore
        tables: dict[str, dict[str, ir.PolicyExpr]] = {}
        for (table, attr), exprs in self.clauses.items():
            tables.setdefault(table, {})[attr] = ir.any_of(exprs)
        return Permissions({name: TablePolicies(**attrs) for name, attrs in tables.items()},
                           self.app)


class Rule:
    """``policy.<table>.allow_read`` (insert, delete): ``.where(cond)``, ``.always()``,
    ``.never()``."""

    def __init__(self, registry: _Registry, table: str, verb: str, attr: str) -> None:
        self._registry = registry
        self.table = table
        self.verb = verb
        self._attr = attr

    def where(self, condition: Any) -> Rule:
        """Allow rows matching ``condition`` (a dict, a condition or ``lambda row: ...``)."""
        where = f"{self.table}.allow_{self.verb}"
        self._registry.add(self.table, self._attr,
                           self._registry.resolve(self.table, condition, where))
        return self

    def always(self) -> Rule:
        """Allow every row."""
        return self.where(all_of())

    def never(self) -> Rule:
        """Allow no row (the same as no rule, but explicit)."""
        return self.where(any_of())


class UpdateRule:
    """One ``allow_update`` rule: ``where_old`` checks the row before, ``where_new`` after; a
    side that is not given takes the other's condition (Jazz's ``whereOld/whereNew``)."""

    def __init__(self, registry: _Registry, table: str) -> None:
        self._registry = registry
        self.table = table
        self.old: ir.PolicyExpr | None = None
        self.new: ir.PolicyExpr | None = None

    def _set(self, side: str, condition: Any) -> UpdateRule:
        if getattr(self, side) is not None:
            raise PolicyError(f"{self.table}.allow_update: where_{side} given twice",
                              table=self.table)
        if self.old is None and self.new is None:
            self._registry.updates.append(self)
        where = f"{self.table}.allow_update.where_{side}"
        setattr(self, side, self._registry.resolve(self.table, condition, where))
        return self

    def where_old(self, condition: Any) -> UpdateRule:
        """Condition on the row as it is before the update (``update.using``)."""
        return self._set("old", condition)

    def where_new(self, condition: Any) -> UpdateRule:
        """Condition on the row as the update leaves it (``update.with_check``)."""
        return self._set("new", condition)


class UpdateRules:
    """``policy.<table>.allow_update``: ``.where``, ``.where_old``, ``.where_new``,
    ``.always()``, ``.never()``."""

    def __init__(self, registry: _Registry, table: str) -> None:
        self._registry = registry
        self.table = table

    def where(self, condition: Any) -> UpdateRule:
        """The same condition on the old and the new row."""
        rule = UpdateRule(self._registry, self.table)
        expr = self._registry.resolve(self.table, condition, f"{self.table}.allow_update")
        rule.old = rule.new = expr
        self._registry.updates.append(rule)
        return rule

    def where_old(self, condition: Any) -> UpdateRule:
        """A rule checking the old row; chain ``.where_new(...)`` for the new row."""
        return UpdateRule(self._registry, self.table).where_old(condition)

    def where_new(self, condition: Any) -> UpdateRule:
        """A rule checking the new row; chain ``.where_old(...)`` for the old row."""
        return UpdateRule(self._registry, self.table).where_new(condition)

    def always(self) -> UpdateRule:
        """Allow every update."""
        return self.where(all_of())

    def never(self) -> UpdateRule:
        """Allow no update."""
        return self.where(any_of())


class Exists:
    """``policy.<table>.exists.where({...})``: some visible row of the table matches."""

    def __init__(self, app: App, table: str) -> None:
        self._app = app
        self.table = table

    def where(self, condition: Any) -> Condition:
        """The existence condition; values may reference the checked row (``row.id``)."""
        if callable(condition) and not isinstance(condition, Condition):
            raise PolicyError(f"policy.{self.table}.exists.where takes a dict or a condition, "
                              "not a callback (take the row in the rule's callback instead)",
                              table=self.table)

        def build(scope: Scope) -> ir.PolicyExpr:
            inner = Scope(scope.app, self.table, f"{scope.where} exists {self.table}",
                          scope.table, scope.exists_depth + 1)
            return ir.Exists(self.table, to_expr(condition, inner))

        return Condition(build, f"exists {self.table}")


class TableRules:
    """``policy.<table>``: ``allow_read/allow_insert/allow_update/allow_delete``, ``exists``,
    ``managed_by_creator()``."""

    def __init__(self, registry: _Registry, table: str) -> None:
        self._registry = registry
        self.table = table

    @property
    def allow_read(self) -> Rule:
        """Read rules (``select.using``)."""
        return Rule(self._registry, self.table, "read", "select_using")

    @property
    def allow_insert(self) -> Rule:
        """Insert rules (``insert.with_check`` on the new row)."""
        return Rule(self._registry, self.table, "insert", "insert_check")

    @property
    def allow_update(self) -> UpdateRules:
        """Update rules (``update.using`` on the old row, ``update.with_check`` on the new)."""
        return UpdateRules(self._registry, self.table)

    @property
    def allow_delete(self) -> Rule:
        """Delete rules (``delete.using``; without one, deletes use the update rule)."""
        return Rule(self._registry, self.table, "delete", "delete_using")

    allow_reads, allow_inserts, allow_updates, allow_deletes = (
        allow_read, allow_insert, allow_update, allow_delete)

    @property
    def exists(self) -> Exists:
        """Existence conditions on this table: ``.exists.where({...})``."""
        return Exists(self._registry.app, self.table)

    def managed_by_creator(self) -> None:
        """Read, insert, update and delete only by the row's creator (``$createdBy``)."""
        self.allow_read.where(IS_CREATOR)
        self.allow_insert.where(IS_CREATOR)
        self.allow_update.where(IS_CREATOR)
        self.allow_delete.where(IS_CREATOR)


class PolicyRoot:
    """The ``policy`` helper: ``policy.todos`` or ``policy["todos"]``."""

    def __init__(self, registry: _Registry) -> None:
        self._registry = registry

    def __getattr__(self, name: str) -> TableRules:
        if name.startswith("_"):
            raise AttributeError(name)
        return self[name]

    def __getitem__(self, name: str) -> TableRules:
        table_of(self._registry.app, name, "policy")
        return TableRules(self._registry, name)

    def __dir__(self) -> list[str]:
        return list(self._registry.app.tables)


def define_permissions(app: App, rules: Callable[..., Any]) -> Permissions:
    """Run ``rules`` with the helpers it asks for and compile its rules to a bundle.

    ``rules`` may take any of ``policy, session, any_of, all_of, allowed_to, is_creator``
    (by name). Errors in a rule raise ``PolicyError``/``SchemaError`` here.

    Example:
        >>> from jazz_nb import s
        >>> app = s.define_app({"notes": s.table(body=s.string())})
        >>> perms = define_permissions(app, lambda policy: policy.notes.managed_by_creator())
        >>> sorted(perms.to_json()["notes"])
        ['delete', 'insert', 'select', 'update']
    """
    from jazz_nb.schema.app import App

    if not isinstance(app, App):
        raise PolicyError("define_permissions takes an app from s.define_app(...)")
    if not callable(rules):
        raise PolicyError("define_permissions takes a function (policy, session, ...) -> None")
    registry = _Registry(app)
    helpers: dict[str, Any] = {"policy": PolicyRoot(registry), "session": SessionProxy(),
                               "any_of": any_of, "all_of": all_of, "allowed_to": AllowedTo(),
                               "is_creator": IS_CREATOR}
    params = inspect.signature(rules).parameters.values()
    if any(p.kind == p.VAR_KEYWORD for p in params):
        rules(**helpers)
    else:
        unknown = [p.name for p in params if p.name not in helpers]
        if unknown:
            raise PolicyError(f"the rules function asks for unknown helper(s) {unknown} "
                              f"(helpers: {', '.join(HELPERS)})")
        rules(**{p.name: helpers[p.name] for p in params})
    return registry.bundle()

