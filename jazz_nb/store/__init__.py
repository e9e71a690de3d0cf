"""The local store: row versions and merged visible rows of an app in DuckDB (§1.3–1.6).

``Store.apply`` takes ``RowVersion``s (from local writes or sync), keeps them in each table's
history and maintains the visible table other parts query; ``visible_preview`` is the merge it
uses; ``layout`` names the DuckDB tables.

Example:
    >>> from jazz_nb import s
    >>> from jazz_nb.store import Store
    >>> with Store(s.define_app({"todos": s.table(title=s.string())})) as store:
    ...     store.current("todos", ["01900000-0000-7000-8000-000000000001"])
    {}
"""

from jazz_nb.store.changes import ChangeSet
from jazz_nb.store.merge import visible_preview
from jazz_nb.store.store import Store
from jazz_nb.store.versions import RowVersion, VisibleRow

__all__ = ["ChangeSet", "RowVersion", "Store", "VisibleRow", "visible_preview"]
