"""The notebook views, as ``jz.widgets.<name>(db, ...)`` (ipywidgets, with HTML fallbacks).

* ``subscriptions(db)`` — live queries: table, query, rows, last change, status, close;
* ``roles(db, sessions)`` — switch the session behind displayed live queries; permission matrix;
* ``migrations(db)`` — schema versions, lens graph, lens workbench;
* ``status(db)`` — sync status: connected, outbox, last settled.

Example:
    >>> # jz.widgets.subscriptions(db)
"""

from jazz_nb.notebook.migrations import migrations
from jazz_nb.notebook.roles import roles
from jazz_nb.notebook.widgets import subscriptions
from jazz_nb.sync.widget import status_widget as status

__all__ = ["migrations", "roles", "status", "subscriptions"]
