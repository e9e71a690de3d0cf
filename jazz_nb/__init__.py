"""jazz_nb: Jazz, the local-first relational database that syncs, in Jupyter.

Example:
    >>> import jazz_nb as jz
    >>> from jazz_nb import s
    >>> app = s.define_app({"todos": s.table(title=s.string(), done=s.boolean(default=False))})
    >>> with jz.create_db(app, app_id="hello") as db:
    ...     _ = db.insert(app.todos, {"title": "Buy milk"})
    ...     len(db.df(app.todos))
    1
"""

from jazz_nb import schema as s
from jazz_nb.auth.session import Session
from jazz_nb.db import Db, WrittenRow, create_db
from jazz_nb.errors import (
    AuthError,
    JazzError,
    MigrationError,
    PolicyDenied,
    PolicyError,
    ProtocolError,
    QueryError,
    SchemaError,
    TransactionConflict,
    WriteError,
    WriteRejected,
)
from jazz_nb.lazy import lazy_exports
from jazz_nb.notebook.extension import load_ipython_extension, unload_ipython_extension
from jazz_nb.query.builder import Query
from jazz_nb.query.results import Row
from jazz_nb.writes import Batch, Transaction, WriteHandle

__version__ = "0.1.0"


# Sync (websockets), widgets (ipywidgets) and the test helpers (HTTP) load on first use, so
# ``import jazz_nb`` costs little beyond pandas, pyarrow and DuckDB.
__getattr__, __dir__ = lazy_exports(__name__, {
    "connect": "jazz_nb.sync.connect", "deploy": "jazz_nb.sync.deploy",
    "start_local_server": "jazz_nb.sync.process",
    "widgets": "jazz_nb.widgets", "testing": "jazz_nb.testing"})

__all__ = [
    "AuthError", "Batch", "Db", "JazzError", "MigrationError", "PolicyDenied", "PolicyError",
    "ProtocolError", "Query", "QueryError", "Row", "SchemaError", "Session", "Transaction",
    "TransactionConflict", "WriteError", "WriteHandle", "WriteRejected", "WrittenRow",
    "connect", "create_db", "deploy", "load_ipython_extension", "s", "start_local_server",
    "unload_ipython_extension",
]
