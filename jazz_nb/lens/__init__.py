"""Migrations: lenses between schema versions, the lens graph and translation in SQL (§6).

Example:
    >>> from jazz_nb import s
    >>> from jazz_nb.lens import migration
    >>> v1 = s.define_app({"todos": s.table(title=s.string())})
    >>> v2 = s.define_app({"todos": s.table(title=s.string(), done=s.boolean(default=False))})
    >>> migration(v1, v2).is_draft
    False
"""

from jazz_nb.lens.diff import Ambiguity
from jazz_nb.lens.graph import LensGraph
from jazz_nb.lens.lens import Lens, migration
from jazz_nb.lens.runtime import Migrations, activate, evolve

__all__ = ["Ambiguity", "Lens", "LensGraph", "Migrations", "activate", "evolve", "migration"]
