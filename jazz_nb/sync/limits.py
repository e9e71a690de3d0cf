"""What one connection may ask of a sync server, and the error that names a limit.

Every limit a peer can hit answers with a protocol ``error`` of code ``limit_exceeded`` that
carries ``limit`` (its name) and ``max``; the server keeps serving everyone else. The
``welcome`` message lists them all (``Limits.to_json``) so a client can stay inside them.

Example:
    >>> err = exceeded("subscriptions", 100, "a connection holds at most 100 subscriptions")
    >>> err.code, err.extra
    ('limit_exceeded', {'limit': 'subscriptions', 'max': 100})
    >>> query_shape({"table": "t", "include": {"a": {"table": "u", "include": {
    ...     "b": {"table": "v"}}}}})
    (2, 2)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

from jazz_nb.errors import ProtocolError

MIB = 1024 * 1024


@dataclass(frozen=True)
class Limits:
    """Per-connection limits (defaults: docs/protocol.md, "Limits")."""

    max_frame_bytes: int = 32 * MIB  # one WebSocket message, as received (compressed)
    max_decompressed_bytes: int = 128 * MIB  # one Arrow segment after decompression
    max_batch_parts: int = 1024  # parts of one multi-part batch
    max_batch_bytes: int = 1024 * MIB  # one batch, over all its parts
    max_pending_batches: int = 4  # multi-part batches begun and not finished
    max_subscriptions: int = 100
    max_query_depth: int = 4  # include nesting
    max_query_includes: int = 16  # includes in one query, at every depth
    max_query_bytes: int = 64 * 1024  # one subscribe message's text
    max_inflight_bytes: int = 64 * MIB  # handed to the engine, not yet handled (backpressure)

    @classmethod
    def from_config(cls, config: Any) -> Limits:
        """The limits a ``ServerConfig`` sets (fields it lacks keep their defaults).

        Example:
            >>> class Config: max_subscriptions = 3
            >>> Limits.from_config(Config()).max_subscriptions
            3
        """
        return cls(**{f.name: getattr(config, f.name) for f in fields(cls)
                      if getattr(config, f.name, None) is not None})

    def to_json(self) -> dict[str, int]:
        """The limits as the ``welcome`` message lists them (names without ``max_``).

        Example:
            >>> Limits().to_json()["subscriptions"]
            100
        """
        return {name.removeprefix("max_"): value for name, value in asdict(self).items()}


def exceeded(limit: str, maximum: int, message: str) -> ProtocolError:
    """The ``limit_exceeded`` error for ``limit`` (its ``extra`` travels in the message).

    Example:
        >>> str(exceeded("query_depth", 4, "includes nest 9 deep"))
        'includes nest 9 deep (limit query_depth: 4) [limit_exceeded]'
    """
    return ProtocolError(f"{message} (limit {limit}: {maximum}) [limit_exceeded]",
                         code="limit_exceeded", extra={"limit": limit, "max": maximum})


def query_shape(ir: Any, depth: int = 0) -> tuple[int, int]:
    """``(depth, count)`` of a query IR's includes: how deep they nest and how many there are
    in all (malformed parts count as nothing; the query parser rejects them).

    Example:
        >>> query_shape({"table": "t"})
        (0, 0)
    """
    includes = ir.get("include") if isinstance(ir, Mapping) else None
    if not isinstance(includes, Mapping) or depth > 64:
        return depth, 0
    deepest, count = depth, 0
    for sub in includes.values():
        sub_depth, sub_count = query_shape(sub, depth + 1)
        deepest, count = max(deepest, sub_depth), count + 1 + sub_count
    return deepest, count


def check_query(ir: Any, text_bytes: int, limits: Limits) -> None:
    """Refuse a subscription whose message or includes exceed ``limits``.

    Example:
        >>> check_query({"table": "t"}, 10**6, Limits())  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        jazz_nb.errors.ProtocolError: a subscribe message of 1000000 bytes ... [limit_exceeded]
    """
    if text_bytes > limits.max_query_bytes:
        raise exceeded("query_bytes", limits.max_query_bytes,
                       f"a subscribe message of {text_bytes} bytes")
    depth, count = query_shape(ir)
    if depth > limits.max_query_depth:
        raise exceeded("query_depth", limits.max_query_depth, f"includes nest {depth} deep")
    if count > limits.max_query_includes:
        raise exceeded("query_includes", limits.max_query_includes,
                       f"the query has {count} includes")
