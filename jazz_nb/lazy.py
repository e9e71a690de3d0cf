"""Package attributes imported on first use (PEP 562), so ``import jazz_nb`` stays light.

Example:
    >>> getattr_, dir_ = lazy_exports("jazz_nb.errors", {"Db": "jazz_nb.db"})
    >>> getattr_("Db").__name__
    'Db'
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable


def lazy_exports(package: str, names: dict[str, str]
                 ) -> tuple[Callable[[str], object], Callable[[], list[str]]]:
    """``(__getattr__, __dir__)`` for ``package``: each of ``names`` is imported from the
    module it maps to when first read, then kept as the package's attribute. A name must not be
    a submodule of ``package`` (importing that submodule would shadow it)."""

    def __getattr__(name: str) -> object:
        try:
            module = names[name]
        except KeyError:
            raise AttributeError(f"module {package!r} has no attribute {name!r}") from None
        value = getattr(importlib.import_module(module), name)
        setattr(sys.modules[package], name, value)
        return value

    def __dir__() -> list[str]:
        return sorted(names)

    return __getattr__, __dir__
