"""``import jazz_nb`` loads no sync, JWT, crypto or widget code; those load on first use."""

from __future__ import annotations

import subprocess
import sys

from bench.engine import HEAVY, heavy_modules

FIRST_USE = """
import sys, jazz_nb as jz
from jazz_nb import auth
assert jz.connect.__module__ == "jazz_nb.sync.connect" and callable(jz.start_local_server)
assert auth.user_id(auth.generate_secret())
print(sorted({m.split('.')[0] for m in sys.modules} & {"websockets", "jwt", "nacl"}))
"""


def test_import_jazz_nb_loads_none_of_the_heavy_packages() -> None:
    assert heavy_modules() == [], f"import jazz_nb loaded {heavy_modules()} of {HEAVY}"


def test_lazy_names_resolve_on_first_use() -> None:
    out = subprocess.run([sys.executable, "-c", FIRST_USE], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "['jwt', 'nacl', 'websockets']"
