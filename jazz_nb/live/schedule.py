"""Where flushes run: the Jupyter kernel's IO loop, when there is one.

ipykernel runs cells on the main thread, whose tornado ``IOLoop`` is ``kernel.io_loop``
(ipykernel 6 and 7). A callback added with ``io_loop.add_callback`` (thread-safe) runs on that
thread between cell executions — so a change that arrives from the sync thread reaches frames
and widgets without blocking the kernel, without patching its loop and without
``nest_asyncio``.

Example:
    >>> kernel_loop(0) is None   # no kernel in a doctest
    True
"""

from __future__ import annotations

import threading
from typing import Any


def kernel() -> Any:
    """The running IPython kernel, or ``None`` outside one."""
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython is a dependency of ipykernel/ipywidgets
        return None
    shell = get_ipython()
    return getattr(shell, "kernel", None) if shell is not None else None


def kernel_loop(owner: int) -> Any:
    """The kernel's IO loop if thread ``owner`` is the one that loop runs on, else ``None``."""
    k = kernel()
    if k is None or owner != threading.main_thread().ident:
        return None
    return getattr(k, "io_loop", None)
