"""Permissions: the DSL, the compiled ``PolicyExpr`` bundle, SQL pushdown and write checks.

Example:
    >>> from jazz_nb import s
    >>> from jazz_nb.policy import define_permissions
    >>> app = s.define_app({"todos": s.table(title=s.string())})
    >>> perms = define_permissions(app, lambda policy, is_creator: policy.todos.allow_read.where(
    ...     is_creator))
    >>> perms.to_json()["todos"]["select"]["using"]["column"]
    '$createdBy'
"""

from jazz_nb.policy.bundle import Permissions, TablePolicies
from jazz_nb.policy.context import PolicyContext
from jazz_nb.policy.dsl import define_permissions
from jazz_nb.policy.ir import expr_from_json, expr_to_json

__all__ = [
    "Permissions", "PolicyContext", "TablePolicies", "define_permissions", "expr_from_json",
    "expr_to_json",
]
