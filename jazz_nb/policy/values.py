"""Value semantics of policy conditions (§5.3), shared by the Python evaluator and the SQL compiler.

* Session lookup: ``user_id``/``userId``, ``auth_mode``/``authMode``, ``claims.…`` walks the
  claims object. A missing path, or a float/object/array where a single value is needed, is
  *unresolvable*: every comparison with it is false (``Ne`` too).
* ``Eq``/``Ne`` are exact equality within a kind (``None == None``; a text operand equal to a uuid
  column is parsed as a UUID); a value of another kind is never equal.
* Ordering: ``None`` sorts below every value; only text, uuid, int, float and bool order.

Example:
    >>> from jazz_nb.auth.session import Session
    >>> bob = Session("bob", {"org": {"role": "admin"}, "level": 2.5})
    >>> session_value(bob, ("claims", "org", "role"))
    'admin'
    >>> scalar(session_value(bob, ("claims", "level")))  # a float claim is unresolvable
    MISSING
    >>> compare("Lt", None, 3), compare("Gt", None, 3), compare("Eq", None, None)
    (True, False, True)
"""

from __future__ import annotations

import base64
import binascii
import re
import uuid
from typing import TYPE_CHECKING, Any

from jazz_nb.schema.types import canonical_json

if TYPE_CHECKING:
    from jazz_nb.auth.session import Session


class _Sentinel:
    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name

    def __reduce__(self) -> str:
        return self.name  # unpickles as this module's instance of that name


MISSING: Any = _Sentinel("MISSING")  # an unresolvable session value
MISMATCH: Any = _Sentinel("MISMATCH")  # an operand that cannot be a value of the column's kind
ORDERED_KINDS = ("text", "uuid", "int", "float", "bool")
UUID_TEXT = re.compile(r"[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}")


def session_value(session: Session, path: tuple[str, ...]) -> Any:
    """The raw session value at ``path`` or ``MISSING``."""
    head, rest = path[0], path[1:]
    if head in ("user_id", "userId") and not rest:
        return session.user_id
    if head in ("auth_mode", "authMode") and not rest:
        return session.auth_mode
    if head != "claims":
        return MISSING
    value: Any = session.claims
    for part in rest:
        if not isinstance(value, dict) or part not in value:
            return MISSING
        value = value[part]
    return value


def scalar(value: Any) -> Any:
    """``value`` if it is a single comparable value (text, int, bool, null), else ``MISSING``."""
    if value is None or isinstance(value, (str, bool, int)):
        return value
    return MISSING


def operand(value: Any, kind: str, element: str | None = None) -> Any:
    """A JSON-form operand as a storage value of ``kind`` (``MISMATCH`` if it cannot be one).

    Example:
        >>> operand("0190A1B2-0000-7000-8000-000000000000", "uuid")
        '0190a1b2-0000-7000-8000-000000000000'
        >>> operand(True, "int")
        MISMATCH
    """
    if value is None:
        return None
    if kind == "text":
        return value if isinstance(value, str) else MISMATCH
    if kind == "json":
        try:
            return canonical_json(value)
        except (TypeError, ValueError):
            return MISMATCH
    if kind == "uuid":
        try:
            return str(value if isinstance(value, uuid.UUID) else uuid.UUID(value))
        except (TypeError, ValueError, AttributeError):
            return MISMATCH
    if kind == "int":
        return value if isinstance(value, int) and not isinstance(value, bool) else MISMATCH
    if kind == "float":
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        return float(value) if ok else MISMATCH
    if kind == "bool":
        return value if isinstance(value, bool) else MISMATCH
    if kind == "bytes":
        return _bytes(value)
    if kind == "array" and isinstance(value, (list, tuple)) and element is not None:
        items = [operand(v, element) for v in value]
        ok = all(i is not MISMATCH and i is not None for i in items)
        return items if ok else MISMATCH
    return MISMATCH


def _bytes(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, TypeError, ValueError):
        return MISMATCH


def compare(op: str, a: Any, b: Any, kind: str = "text") -> bool:
    """``a op b`` for two storage values of ``kind`` (either may be ``None``).

    Example:
        >>> compare("Ne", None, "x"), compare("Le", 2, 2, "int"), compare("Lt", [1], [2], "array")
        (True, True, False)
    """
    if op == "Eq":
        return a == b if (a is None) == (b is None) else False
    if op == "Ne":
        return not compare("Eq", a, b, kind)
    if kind not in ORDERED_KINDS:
        return False
    if a is None or b is None:
        return {"Lt": a is None and b is not None, "Le": a is None,
                "Gt": b is None and a is not None, "Ge": b is None}[op]
    return {"Lt": a < b, "Le": a <= b, "Gt": a > b, "Ge": a >= b}[op]


def compare_operand(op: str, column_value: Any, value: Any, kind: str,
                    element: str | None = None) -> bool:
    """``column op value`` where ``value`` is a JSON-form operand (``MISSING``: false).

    Example:
        >>> compare_operand("Eq", "abc", 3, "text"), compare_operand("Ne", "abc", 3, "text")
        (False, True)
    """
    if value is MISSING:
        return False
    value = operand(value, kind, element)
    if value is MISMATCH:
        return op == "Ne"
    return compare(op, column_value, value, kind)


def text_as_uuid(value: Any) -> Any:
    """A text column value read as a UUID: only the canonical 36-character form parses.

    Example:
        >>> text_as_uuid("0190A1B2-0000-7000-8000-000000000000"), text_as_uuid("nope")
        ('0190a1b2-0000-7000-8000-000000000000', MISMATCH)
    """
    if value is None:
        return None
    return value.lower() if UUID_TEXT.fullmatch(value) else MISMATCH


def convert(value: Any, from_kind: str, to_kind: str) -> Any:
    """A column value of (full) kind ``from_kind`` used where ``to_kind`` is expected.

    Only these conversions exist: uuid → text, canonical text → uuid, int → float; anything
    else is ``MISMATCH``.

    Example:
        >>> convert(2, "int", "float"), convert("x", "text", "uuid"), convert(None, "int", "text")
        (2.0, MISMATCH, None)
    """
    if value is None or from_kind == to_kind:
        return value
    if (from_kind, to_kind) == ("uuid", "text"):
        return value
    if (from_kind, to_kind) == ("text", "uuid"):
        return text_as_uuid(value)
    if (from_kind, to_kind) == ("int", "float"):
        return float(value)
    return MISMATCH


def common_kind(kind_a: str, kind_b: str) -> str | None:
    """The kind two columns compare in (``None``: equal only when both are NULL).

    Example:
        >>> common_kind("int", "float"), common_kind("text", "uuid"), common_kind("bool", "int")
        ('float', 'uuid', None)
    """
    if kind_a == kind_b:
        return kind_a
    pair = {kind_a, kind_b}
    return "float" if pair == {"int", "float"} else "uuid" if pair == {"uuid", "text"} else None


def compare_columns(op: str, a: Any, kind_a: str, b: Any, kind_b: str) -> bool:
    """``a op b`` for two column values of (full) kinds ``kind_a``/``kind_b``.

    Text against uuid is equal only when the text is a canonical UUID; it never orders.

    Example:
        >>> compare_columns("Eq", None, "int", None, "text")
        True
        >>> compare_columns("Lt", 1, "int", 2.5, "float")
        True
    """
    kind = common_kind(kind_a, kind_b)
    if kind is None or (kind == "uuid" and kind_a != kind_b):
        if op not in ("Eq", "Ne"):
            return False
        if kind is None:
            equal = a is None and b is None
        else:
            a, b = convert(a, kind_a, kind), convert(b, kind_b, kind)
            equal = a == b and a is not MISMATCH
        return equal if op == "Eq" else not equal
    return compare(op, convert(a, kind_a, kind), convert(b, kind_b, kind), kind)


def contains(column_value: Any, needle: Any, kind: str) -> bool:
    """Text substring (``kind == "text"``) or list membership (``"array"``) of a storage value.

    Example:
        >>> contains("hello", "ell", "text"), contains(["a"], "b", "array")
        (True, False)
    """
    if column_value is None or needle is None or needle is MISMATCH:
        return False
    if kind == "text":
        return isinstance(needle, str) and needle in column_value
    if kind == "array":
        return needle in column_value
    return False


def kind_of_value(value: Any) -> str | None:
    """The kind of a JSON value (``None`` for null) as session comparisons see it.

    Example:
        >>> kind_of_value(True), kind_of_value(3), kind_of_value("x")
        ('bool', 'int', 'text')
    """
    if value is None:
        return None
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "text"
    return "json"


def session_compare(op: str, value: Any, literal: Any) -> bool:
    """``session value op literal``: same-kind values only, ``None`` sorts first.

    Example:
        >>> session_compare("Eq", 1, True), session_compare("Ge", 3, 2)
        (False, True)
        >>> session_compare("Ne", MISSING, 1)
        False
    """
    if value is MISSING:
        return False
    kind_a, kind_b = kind_of_value(value), kind_of_value(literal)
    if kind_a is not None and kind_b is not None and kind_a != kind_b:
        return op == "Ne"
    return compare(op, value, literal, kind_a or kind_b or "text")


def strict_equal(a: Any, b: Any) -> bool:
    """JSON equality that keeps kinds apart (``1 != True``).

    Example:
        >>> strict_equal(1, True), strict_equal(None, None)
        (False, True)
    """
    return kind_of_value(a) == kind_of_value(b) and a == b
