"""Package attributes imported on first use (PEP 562), so ``import jazz_nb`` stays light.

Example:
    >>> getattr_, dir_ = lazy_exports("jazz_nb", {"Db": "jazz_nb.db"})
    >>> getattr_("Db").__name__, "Db" in dir_()
    ('Db', True)
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable


def lazy_exports(package: str, names: dict[str, str]
                 ) -> tuple[Callable[[str], object], Callable[[], list[str]]]:
    """``(__getattr__, __dir__)`` for ``package``: each of ``names`` is imported from the
    module it maps to when first read (a name mapped to ``package.name`` is that submodule),
    then kept as the package's attribute."""

    def __getattr__(name: str) -> object:
        try:
            module = importlib.import_module(names[name])
        except KeyError:
            raise AttributeError(f"module {package!r} has no attribute {name!r}") from None
        value = module if module.__name__ == f"{package}.{name}" else getattr(module, name)
        setattr(sys.modules[package], name, value)
        return value

    def __dir__() -> list[str]:
        return sorted(set(names) | set(vars(sys.modules[package])))

    return __getattr__, __dir__
