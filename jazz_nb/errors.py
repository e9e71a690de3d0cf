"""One exception hierarchy for everything jazz_nb raises.

Every message names the table, column, operator, claim or code at fault, so a notebook user
can fix the call without reading a traceback.

Example:
    >>> try:
    ...     raise QueryError("unknown column 'titel'", table="todos", column="titel")
    ... except JazzError as err:
    ...     err.column
    'titel'
"""

from __future__ import annotations


class JazzError(Exception):
    """Base class of every jazz_nb error; carries optional context fields.

    Example:
        >>> JazzError("boom", table="todos").table
        'todos'
    """

    def __init__(
        self,
        message: str,
        *,
        table: str | None = None,
        column: str | None = None,
        operator: str | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.table = table
        self.column = column
        self.operator = operator
        self.code = code


class SchemaError(JazzError):
    """An invalid schema, column type or value for a column."""


class QueryError(JazzError):
    """A query names an unknown table/column or uses an operator the column type lacks."""


class WriteError(JazzError):
    """A write cannot be applied (missing required column, deleted row, duplicate id, ...)."""


class TransactionConflict(WriteError):
    """A row a transaction staged changed underneath it before commit."""


class PolicyError(JazzError):
    """A permissions definition is invalid (raised at definition time)."""


class PolicyDenied(WriteError):
    """A write is not allowed by the loaded permissions; names the operation and the rule."""

    def __init__(self, message: str, *, table: str | None = None, operation: str | None = None,
                 rule: str | None = None, code: str = "permission_denied") -> None:
        super().__init__(message, table=table, code=code)
        self.operation = operation
        self.rule = rule


class WriteRejected(WriteError):
    """The server rejected a batch; ``code`` and ``reason`` say why."""

    def __init__(self, code: str, reason: str, *, batch_id: str | None = None) -> None:
        super().__init__(f"batch {batch_id} was rejected ({code}): {reason}", code=code)
        self.reason = reason
        self.batch_id = batch_id


class AuthError(JazzError):
    """A secret, token, phrase or credential is invalid; ``code`` is a reason code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{message} [{code}]", code=code)


class ProtocolError(JazzError):
    """A sync frame or message is malformed or not allowed; ``code`` is the wire error code
    and ``extra`` holds the fields the error message carries besides it (a limit's ``limit``
    and ``max``, a subscription's ``id``...).

    Example:
        >>> err = ProtocolError("too big", code="limit_exceeded",
        ...                     extra={"limit": "decompressed_bytes", "max": 8})
        >>> err.limit, err.max
        ('decompressed_bytes', 8)
    """

    def __init__(self, message: str, *, code: str | None = None, table: str | None = None,
                 column: str | None = None, extra: dict[str, object] | None = None) -> None:
        super().__init__(message, table=table, column=column, code=code)
        self.extra = dict(extra or {})

    @property
    def limit(self) -> object:
        """The name of the limit a ``limit_exceeded`` error reports (else ``None``)."""
        return self.extra.get("limit")

    @property
    def max(self) -> object:
        """The limit's value (else ``None``)."""
        return self.extra.get("max")


class MigrationError(JazzError):
    """A lens or migration is invalid, ambiguous (draft) or has no path."""
