"""Per-user data folders: ``$<OVERRIDE>``, else ``$XDG_DATA_HOME/jazz_nb/<name>``.

Example:
    >>> user_data_dir("secrets", "JAZZ_NB_SECRET_DIR", {"XDG_DATA_HOME": "/data"}).as_posix()
    '/data/jazz_nb/secrets'
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path


def user_data_dir(name: str, override_env: str,
                  environ: Mapping[str, str] | None = None) -> Path:
    """The folder ``name`` of jazz_nb's per-user data; ``override_env`` names it outright.

    Example:
        >>> user_data_dir("server", "X", {"X": "/s"}).as_posix()
        '/s'
    """
    env = os.environ if environ is None else environ
    if env.get(override_env):
        return Path(env[override_env]).expanduser()
    base = env.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base).expanduser() / "jazz_nb" / name
