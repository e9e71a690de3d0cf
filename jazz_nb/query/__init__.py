"""Queries: the immutable builder, its JSON IR, the DuckDB compiler and result shaping.

Example:
    >>> from jazz_nb.schema import define_app, table, string
    >>> app = define_app({"todos": table(title=string())})
    >>> Query.from_json(app, app.todos.limit(3).to_json()) == app.todos.limit(3)
    True
"""

from jazz_nb.query.builder import Condition, OrderKey, Query
from jazz_nb.query.results import Row, cast_arrow, rows_from_arrow, run_arrow, to_df
from jazz_nb.query.sql import IDS_PARAM, CompileContext, Compiled, OutputColumn, compile_query

__all__ = [
    "IDS_PARAM", "CompileContext", "Compiled", "Condition", "OrderKey", "OutputColumn", "Query",
    "Row", "cast_arrow", "compile_query", "rows_from_arrow", "run_arrow", "to_df",
]
