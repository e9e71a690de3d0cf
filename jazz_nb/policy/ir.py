"""The compiled policy IR: Jazz's ``PolicyExpr`` tree (§5.1) as frozen dataclasses, and JSON.

``expr_to_json``/``expr_from_json`` use Jazz's tagged JSON form (``{"type": "Cmp", ...}``);
literal values travel in their JSON form (the form ``query.columns`` encodes: base64 bytes,
parsed JSON, ints for timestamps — ms for user columns, µs for ``$createdAt``/``$updatedAt``).

Example:
    >>> expr = Cmp("$createdBy", "Eq", SessionRef(("user_id",)))
    >>> expr_to_json(expr)  # doctest: +NORMALIZE_WHITESPACE
    {'type': 'Cmp', 'column': '$createdBy', 'op': 'Eq',
     'value': {'type': 'SessionRef', 'path': ['user_id']}}
    >>> expr_from_json(expr_to_json(expr)) == expr
    True
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

from jazz_nb.errors import PolicyError

CmpOp = Literal["Eq", "Ne", "Lt", "Le", "Gt", "Ge"]
PolicyOp = Literal["Select", "Insert", "Update", "Delete"]
CMP_OPS = ("Eq", "Ne", "Lt", "Le", "Gt", "Ge")
POLICY_OPS = ("Select", "Insert", "Update", "Delete")
OUTER_ROW = "__jazz_outer_row"  # SessionRef path head naming the row an Exists is evaluated from
DEFAULT_MAX_DEPTH = 10  # RECURSIVE_POLICY_MAX_DEPTH_DEFAULT
MAX_DEPTH_CAP = 64  # RECURSIVE_POLICY_MAX_DEPTH_HARD_CAP


@dataclass(frozen=True)
class Lit:
    """A literal value (JSON form). Example: ``Lit("admin")``."""

    value: Any


@dataclass(frozen=True)
class SessionRef:
    """A session value (``("user_id",)``, ``("claims", "role")``) or, under ``OUTER_ROW``, a
    column of the row an ``Exists`` is evaluated from. Example: ``SessionRef(("user_id",))``."""

    path: tuple[str, ...]

    @property
    def outer_column(self) -> str | None:
        """The outer-row column this ref names, or ``None`` for a session value."""
        return self.path[1] if len(self.path) == 2 and self.path[0] == OUTER_ROW else None


PolicyValue = Lit | SessionRef


@dataclass(frozen=True)
class Cmp:
    """``column op value``. Example: ``Cmp("done", "Eq", Lit(False))``."""

    column: str
    op: CmpOp
    value: PolicyValue


@dataclass(frozen=True)
class SessionCmp:
    """``session[path] op value`` (a literal).

    Example: ``SessionCmp(("claims", "role"), "Eq", "x")``."""

    path: tuple[str, ...]
    op: CmpOp
    value: Any


@dataclass(frozen=True)
class IsNull:
    """The column is NULL. Example: ``IsNull("project_id")``."""

    column: str


@dataclass(frozen=True)
class IsNotNull:
    """The column is not NULL. Example: ``IsNotNull("project_id")``."""

    column: str


@dataclass(frozen=True)
class SessionIsNull:
    """The session value is missing or null. Example: ``SessionIsNull(("claims", "org"))``."""

    path: tuple[str, ...]


@dataclass(frozen=True)
class SessionIsNotNull:
    """The session value is present and not null.

    Example: ``SessionIsNotNull(("claims", "org"))``."""

    path: tuple[str, ...]


@dataclass(frozen=True)
class Contains:
    """Text substring or array membership. Example: ``Contains("tags", Lit("urgent"))``."""

    column: str
    value: PolicyValue


@dataclass(frozen=True)
class SessionContains:
    """Session text substring / session array membership. Example:
    ``SessionContains(("claims", "teams"), "red")``."""

    path: tuple[str, ...]
    value: Any


@dataclass(frozen=True)
class In:
    """The column value is in the session array. Example: ``In("id", ("claims", "ids"))``."""

    column: str
    session_path: tuple[str, ...]


@dataclass(frozen=True)
class InList:
    """The column value is one of ``values``. Example: ``InList("role", (Lit("a"), Lit("b")))``."""

    column: str
    values: tuple[PolicyValue, ...]


@dataclass(frozen=True)
class SessionInList:
    """The session value is one of ``values``.

    Example: ``SessionInList(("claims", "r"), ("a",))``."""

    path: tuple[str, ...]
    values: tuple[Any, ...]


@dataclass(frozen=True)
class Exists:
    """Some visible row of ``table`` satisfies ``condition`` (outer row via ``OUTER_ROW`` refs).

    Example: ``Exists("members", Cmp("user_id", "Eq", SessionRef(("user_id",))))``."""

    table: str
    condition: PolicyExpr


@dataclass(frozen=True)
class Inherits:
    """The parent row (FK ``via_column``) passes its table's ``operation`` policy.

    Example: ``Inherits("Select", "project_id", None)``."""

    operation: PolicyOp
    via_column: str
    max_depth: int | None = None


@dataclass(frozen=True)
class InheritsReferencing:
    """Some ``source_table`` row whose FK ``via_column`` points here passes its policy.

    Example: ``InheritsReferencing("Select", "uploads", "file_id", None)``."""

    operation: PolicyOp
    source_table: str
    via_column: str
    max_depth: int | None = None


@dataclass(frozen=True)
class And:
    """All of ``exprs`` (empty: true). Example: ``And((TRUE, FALSE))``."""

    exprs: tuple[PolicyExpr, ...]


@dataclass(frozen=True)
class Or:
    """Any of ``exprs`` (empty: false). Example: ``Or((TRUE, FALSE))``."""

    exprs: tuple[PolicyExpr, ...]


@dataclass(frozen=True)
class Not:
    """Negation (no DSL helper, as in Jazz). Example: ``Not(TRUE)``."""

    expr: PolicyExpr


@dataclass(frozen=True)
class Const:
    """``True``/``False`` (JSON ``{"type": "True"}``). Example: ``Const(True)``."""

    value: bool


TRUE = Const(True)
FALSE = Const(False)

PolicyExpr = (Cmp | SessionCmp | IsNull | IsNotNull | SessionIsNull | SessionIsNotNull | Contains
              | SessionContains | In | InList | SessionInList | Exists | Inherits
              | InheritsReferencing | And | Or | Not | Const)


def any_of(exprs: list[PolicyExpr]) -> PolicyExpr:
    """``Or`` with Jazz's shortcuts: empty → ``False``, one child unwrapped.

    Example:
        >>> any_of([]) == FALSE, any_of([TRUE]) == TRUE
        (True, True)
    """
    return FALSE if not exprs else exprs[0] if len(exprs) == 1 else Or(tuple(exprs))


def all_of(exprs: list[PolicyExpr]) -> PolicyExpr:
    """``And`` with Jazz's shortcuts: empty → ``True``, one child unwrapped.

    Example:
        >>> all_of([]) == TRUE
        True
    """
    return TRUE if not exprs else exprs[0] if len(exprs) == 1 else And(tuple(exprs))


# -- JSON ------------------------------------------------------------------------------------
def _value_to_json(value: PolicyValue) -> dict[str, Any]:
    if isinstance(value, Lit):
        return {"type": "Literal", "value": value.value}
    return {"type": "SessionRef", "path": list(value.path)}


def _depth(out: dict[str, Any], depth: int | None) -> dict[str, Any]:
    if depth is not None:
        out["max_depth"] = depth
    return out


def expr_to_json(expr: PolicyExpr) -> dict[str, Any]:
    """Jazz's tagged JSON of ``expr``.

    Example:
        >>> expr_to_json(Or((IsNull("a"), FALSE)))
        {'type': 'Or', 'exprs': [{'type': 'IsNull', 'column': 'a'}, {'type': 'False'}]}
    """
    match expr:
        case Cmp(column, op, value):
            return {"type": "Cmp", "column": column, "op": op, "value": _value_to_json(value)}
        case SessionCmp(path, op, value):
            return {"type": "SessionCmp", "path": list(path), "op": op, "value": value}
        case IsNull(column) | IsNotNull(column):
            return {"type": type(expr).__name__, "column": column}
        case SessionIsNull(path) | SessionIsNotNull(path):
            return {"type": type(expr).__name__, "path": list(path)}
        case Contains(column, value):
            return {"type": "Contains", "column": column, "value": _value_to_json(value)}
        case SessionContains(path, value):
            return {"type": "SessionContains", "path": list(path), "value": value}
        case In(column, path):
            return {"type": "In", "column": column, "session_path": list(path)}
        case InList(column, values):
            return {"type": "InList", "column": column,
                    "values": [_value_to_json(v) for v in values]}
        case SessionInList(path, values):
            return {"type": "SessionInList", "path": list(path), "values": list(values)}
        case Exists(table, condition):
            return {"type": "Exists", "table": table, "condition": expr_to_json(condition)}
        case Inherits(op, via, depth):
            return _depth({"type": "Inherits", "operation": op, "via_column": via}, depth)
        case InheritsReferencing(op, source, via, depth):
            return _depth({"type": "InheritsReferencing", "operation": op,
                           "source_table": source, "via_column": via}, depth)
        case And(exprs) | Or(exprs):
            return {"type": type(expr).__name__, "exprs": [expr_to_json(e) for e in exprs]}
        case Not(inner):
            return {"type": "Not", "expr": expr_to_json(inner)}
        case Const(value):
            return {"type": "True" if value else "False"}
    raise PolicyError(f"not a policy expression: {expr!r}")


def _field(data: dict[str, Any], name: str, kind: type | tuple[type, ...]) -> Any:
    value = data.get(name)
    if not isinstance(value, kind):
        raise PolicyError(f"policy expression {data.get('type')!r} needs a {name!r} field of "
                          f"type {getattr(kind, '__name__', kind)}, got {value!r}")
    return value


def _path(data: dict[str, Any], name: str = "path") -> tuple[str, ...]:
    path = _field(data, name, list)
    if not path or not all(isinstance(p, str) for p in path):
        raise PolicyError(f"policy path {name!r} must be a non-empty list of strings, got {path!r}")
    return tuple(path)


def _value_from_json(data: Any) -> PolicyValue:
    if isinstance(data, dict) and data.get("type") == "Literal" and "value" in data:
        return Lit(data["value"])
    if isinstance(data, dict) and data.get("type") == "SessionRef":
        return SessionRef(_path(data))
    raise PolicyError(f"a policy value is {{'type': 'Literal'|'SessionRef', ...}}, got {data!r}")


def _op(data: dict[str, Any], name: str, allowed: tuple[str, ...]) -> Any:
    op = data.get(name)
    if op not in allowed:
        raise PolicyError(f"policy {name} must be one of {', '.join(allowed)}, got {op!r}")
    return op


def _max_depth(data: dict[str, Any]) -> int | None:
    depth = data.get("max_depth")
    if depth is not None and (isinstance(depth, bool) or not isinstance(depth, int)):
        raise PolicyError(f"max_depth must be an integer, got {depth!r}")
    return depth


def expr_from_json(data: Any) -> PolicyExpr:
    """Parse Jazz's tagged JSON; a ``PolicyError`` names what is malformed.

    Example:
        >>> expr_from_json({"type": "Inherits", "operation": "Select", "via_column": "p_id"})
        Inherits(operation='Select', via_column='p_id', max_depth=None)
    """
    if not isinstance(data, dict):
        raise PolicyError(f"a policy expression is a JSON object, got {data!r}")
    kind = data.get("type")
    if kind == "Cmp":
        return Cmp(_field(data, "column", str), _op(data, "op", CMP_OPS),
                   _value_from_json(data.get("value")))
    if kind == "SessionCmp":
        return SessionCmp(_path(data), _op(data, "op", CMP_OPS), data.get("value"))
    if kind in ("IsNull", "IsNotNull"):
        return (IsNull if kind == "IsNull" else IsNotNull)(_field(data, "column", str))
    if kind in ("SessionIsNull", "SessionIsNotNull"):
        return (SessionIsNull if kind == "SessionIsNull" else SessionIsNotNull)(_path(data))
    if kind == "Contains":
        return Contains(_field(data, "column", str), _value_from_json(data.get("value")))
    if kind == "SessionContains":
        return SessionContains(_path(data), data.get("value"))
    if kind == "In":
        return In(_field(data, "column", str), _path(data, "session_path"))
    if kind == "InList":
        values = tuple(_value_from_json(v) for v in _field(data, "values", list))
        return InList(_field(data, "column", str), values)
    if kind == "SessionInList":
        return SessionInList(_path(data), tuple(_field(data, "values", list)))
    if kind == "Exists":
        return Exists(_field(data, "table", str), expr_from_json(data.get("condition")))
    if kind == "Inherits":
        return Inherits(_op(data, "operation", POLICY_OPS), _field(data, "via_column", str),
                        _max_depth(data))
    if kind == "InheritsReferencing":
        return InheritsReferencing(_op(data, "operation", POLICY_OPS),
                                   _field(data, "source_table", str),
                                   _field(data, "via_column", str), _max_depth(data))
    if kind in ("And", "Or"):
        exprs = tuple(expr_from_json(e) for e in _field(data, "exprs", list))
        return And(exprs) if kind == "And" else Or(exprs)
    if kind == "Not":
        return Not(expr_from_json(data.get("expr")))
    if kind in ("True", "False"):
        return Const(kind == "True")
    if kind == "ExistsRel":
        raise PolicyError("ExistsRel (relation-IR existence) is not supported by jazz_nb; "
                          "use Exists with an outer-row condition")
    raise PolicyError(f"unknown policy expression type {kind!r}")


# -- display ---------------------------------------------------------------------------------
_SYMBOL = {"Eq": "=", "Ne": "!=", "Lt": "<", "Le": "<=", "Gt": ">", "Ge": ">="}


def _show_value(value: PolicyValue | Any) -> str:
    if isinstance(value, SessionRef):
        outer = value.outer_column
        return f"row.{outer}" if outer else "session." + ".".join(value.path)
    if isinstance(value, Lit):
        value = value.value
    return json.dumps(value, ensure_ascii=False, default=str)


def describe(expr: PolicyExpr) -> str:
    """A short human-readable rendering of ``expr`` (used in ``PolicyDenied`` messages).

    Example:
        >>> describe(Or((Cmp("$createdBy", "Eq", SessionRef(("user_id",))),
        ...              Inherits("Update", "project_id"))))
        '($createdBy = session.user_id OR allowed_to.update(project_id))'
    """
    match expr:
        case Cmp(column, op, value):
            return f"{column} {_SYMBOL[op]} {_show_value(value)}"
        case SessionCmp(path, op, value):
            return f"session.{'.'.join(path)} {_SYMBOL[op]} {_show_value(value)}"
        case IsNull(column):
            return f"{column} is null"
        case IsNotNull(column):
            return f"{column} is not null"
        case SessionIsNull(path):
            return f"session.{'.'.join(path)} is null"
        case SessionIsNotNull(path):
            return f"session.{'.'.join(path)} is not null"
        case Contains(column, value):
            return f"{column} contains {_show_value(value)}"
        case SessionContains(path, value):
            return f"session.{'.'.join(path)} contains {_show_value(value)}"
        case In(column, path):
            return f"{column} in session.{'.'.join(path)}"
        case InList(column, values):
            return f"{column} in [{', '.join(_show_value(v) for v in values)}]"
        case SessionInList(path, values):
            return f"session.{'.'.join(path)} in [{', '.join(map(_show_value, values))}]"
        case Exists(table, condition):
            return f"exists {table} where {describe(condition)}"
        case Inherits(op, via, depth):
            extra = f", max_depth={depth}" if depth is not None else ""
            return f"allowed_to.{_OP_VERB[op]}({via}{extra})"
        case InheritsReferencing(op, source, via, depth):
            extra = f", max_depth={depth}" if depth is not None else ""
            return f"allowed_to.{_OP_VERB[op]}_referencing({source}.{via}{extra})"
        case And(exprs):
            return "(" + " AND ".join(map(describe, exprs)) + ")" if exprs else "always"
        case Or(exprs):
            return "(" + " OR ".join(map(describe, exprs)) + ")" if exprs else "never"
        case Not(inner):
            return f"NOT {describe(inner)}"
        case Const(value):
            return "always" if value else "never"
    raise PolicyError(f"not a policy expression: {expr!r}")


_OP_VERB = {"Select": "read", "Insert": "insert", "Update": "update", "Delete": "delete"}
