"""What every ``Store`` open on one database file in this process shares: a lock, the memtable
and the journal.

DuckDB gives every connection to one file in one process the same database (a notebook that runs
``jz.create_db(app, path=...)`` again before closing the first db has two). Their stores must
then hold one memtable, so that a write through one is seen by a read through the other, and
one journal, since two writers of one file would truncate each other's records. In-memory
stores are separate databases and share nothing.

Example:
    >>> attach(None) is attach(None)  # in-memory stores share nothing
    False
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field

from jazz_nb.store.journal import Journal, Part
from jazz_nb.store.memtable import Memtable

_OPEN: dict[str, Shared] = {}
_GUARD = threading.Lock()


@dataclass(eq=False)
class Shared:
    """The lock, memtable and journal of one database, and how many stores use them."""

    lock: threading.RLock = field(default_factory=threading.RLock)
    memtable: Memtable = field(default_factory=Memtable)
    journal: Journal | None = None  # a file store's: the memtable, durable
    unreplayed: list[list[Part]] = field(default_factory=list)  # of schemas not registered yet
    users: int = 0
    key: str | None = None


def attach(path: str | None) -> Shared:
    """The shared state of the database at ``path`` (a new one for an in-memory store).

    Example:
        >>> import tempfile
        >>> path = tempfile.mkdtemp() + "/a.duckdb"
        >>> one, two = attach(path), attach(path)
        >>> one is two, detach(one), detach(two)
        (True, False, True)
    """
    if path is None or path == ":memory:":
        return Shared(users=1)
    key = os.path.realpath(path)
    with _GUARD:
        shared = _OPEN.get(key)
        if shared is None:
            shared = _OPEN[key] = Shared(key=key)
        shared.users += 1
        return shared


def detach(shared: Shared) -> bool:
    """One store is done with ``shared``; returns whether it was the last one.

    Example:
        >>> detach(attach(None))
        True
    """
    with _GUARD:
        shared.users -= 1
        if shared.users > 0:
            return False
        if shared.key is not None:
            _OPEN.pop(shared.key, None)
        return True
