"""Relations for ``include``: forward references and reverse lists, named as Jazz names them.

A column ``project_id`` referencing ``projects`` gives ``todos.project`` (forward, one row) and
``projects.todos_via_project`` (reverse, a list). Array references (``part_ids``) give lists
(``parts``).

Example:
    >>> forward_name("project_id"), forward_name("partIds")
    ('project', 'parts')
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from jazz_nb.errors import SchemaError
from jazz_nb.schema import types as t

if TYPE_CHECKING:
    from jazz_nb.schema.app import TableSchema


@dataclass(frozen=True)
class Relation:
    """``source`` rows get a field ``name`` holding rows of ``target`` joined on ``column``.

    ``kind="forward"``: ``source.column`` holds the target id (or ids, when ``many``).
    ``kind="reverse"``: ``target.column`` holds the source id (always ``many``).
    """

    name: str
    source: str
    target: str
    column: str
    kind: Literal["forward", "reverse"]
    many: bool
    array_ref: bool = False


def _plural(word: str) -> str:
    if word.endswith("s"):
        return word
    if word.endswith("y") and word[-2:-1] not in "aeiou":
        return word[:-1] + "ies"
    return word + "s"


def forward_name(column: str) -> str:
    """Strip ``_ids|Ids|_id|Id``; array references are pluralised."""
    match = re.match(r"^(.*?)(_ids|Ids|_id|Id)$", column)
    if not match:
        return column
    stem, suffix = match.groups()
    return _plural(stem) if suffix.endswith("s") else stem


def relations_of(tables: dict[str, TableSchema]) -> dict[str, dict[str, Relation]]:
    """All relations per source table; a name clash is a ``SchemaError``."""
    out: dict[str, dict[str, Relation]] = {name: {} for name in tables}

    def add(rel: Relation) -> None:
        if rel.name in out[rel.source] or rel.name in tables[rel.source].columns:
            raise SchemaError(f"relation name {rel.name!r} on table {rel.source!r} clashes with "
                              "a column or another relation", table=rel.source)
        out[rel.source][rel.name] = rel

    for name, tbl in tables.items():
        for col_name, col in tbl.columns.items():
            if not col.references:
                continue
            fwd = forward_name(col_name)
            is_array = isinstance(col.type, t.Array)
            add(Relation(fwd, name, col.references, col_name, "forward", is_array, is_array))
            add(Relation(f"{name}_via_{fwd}", col.references, name, col_name, "reverse", True,
                         is_array))
    return out
