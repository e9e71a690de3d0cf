"""``%load_ext jazz_nb``: registers the ``%jazz`` magic (idempotent); ``%unload_ext`` removes it.

Live queries display themselves (a widget, with an HTML fallback), so the extension only adds
the magic.

Example:
    >>> from IPython.core.interactiveshell import InteractiveShell
    >>> ip = InteractiveShell.instance()  # in a notebook: get_ipython()
    >>> load_ipython_extension(ip); load_ipython_extension(ip)
    >>> "jazz" in ip.magics_manager.magics["line"]
    True
    >>> unload_ipython_extension(ip); "jazz" in ip.magics_manager.magics["line"]
    False
"""

from __future__ import annotations

from typing import Any

from jazz_nb.notebook.magics import jazz_magic

MAGIC = "jazz"


def _magic(line: str) -> Any:
    from IPython import get_ipython

    return jazz_magic(line, get_ipython())


def load_ipython_extension(ip: Any) -> None:
    """Register ``%jazz`` on the shell ``ip`` (again = no-op)."""
    current = ip.magics_manager.magics["line"].get(MAGIC)
    if current is _magic:
        return
    ip.register_magic_function(_magic, magic_kind="line", magic_name=MAGIC)


def unload_ipython_extension(ip: Any) -> None:
    """Remove what ``load_ipython_extension`` added."""
    from jazz_nb.notebook.widgets import unhook_cells

    line = ip.magics_manager.magics["line"]
    if line.get(MAGIC) is _magic:
        del line[MAGIC]
    unhook_cells(ip)
