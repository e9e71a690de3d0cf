"""The sync thread: one daemon thread per process running the asyncio loop that every connected
db shares (its WebSocket, heartbeats, reconnects and the applying of received rows).

Never the kernel's loop: the thread has its own loop, so nothing is patched (no
``nest_asyncio``). It starts with the first connected db and stops after the last one closes.

Example:
    >>> import asyncio
    >>> loop = SyncLoop.acquire()
    >>> async def answer() -> int:
    ...     return 42
    >>> loop.submit(answer()).result(5)
    42
    >>> loop.release()
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Coroutine
from typing import Any, ClassVar


class SyncLoop:
    """The shared loop thread; ``acquire``/``release`` count its users."""

    _lock: ClassVar[threading.Lock] = threading.Lock()
    _current: ClassVar[SyncLoop | None] = None

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.users = 0
        self.thread = threading.Thread(target=self._main, name="jazz-sync", daemon=True)
        self.thread.start()

    def _main(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()
        self.loop.run_until_complete(self.loop.shutdown_asyncgens())
        self.loop.close()

    @classmethod
    def acquire(cls) -> SyncLoop:
        """The running loop thread (started if needed), counted as used once more."""
        with cls._lock:
            if cls._current is None:
                cls._current = SyncLoop()
            cls._current.users += 1
            return cls._current

    def release(self, timeout: float = 5.0) -> None:
        """One user less; the last one stops the thread."""
        with self._lock:
            self.users -= 1
            if self.users > 0:
                return
            if SyncLoop._current is self:
                SyncLoop._current = None
        self.loop.call_soon_threadsafe(self.loop.stop)
        if threading.current_thread() is not self.thread:
            self.thread.join(timeout)

    def submit(self, coroutine: Coroutine[Any, Any, Any]) -> concurrent.futures.Future[Any]:
        """Run ``coroutine`` on the loop; returns a thread-safe future."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop)
