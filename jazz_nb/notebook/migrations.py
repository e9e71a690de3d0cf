"""The migrations widget: ``jz.widgets.migrations(db)`` / ``%jazz migrations``.

Three parts: the schema versions the database knows (hash, tables, rows stored per branch), the
lens graph (who connects to whom, with each lens's operations), and a lens workbench — pick a
lens (or ``view.load(lens)`` a new one, drafts included), edit its JSON, see sample rows before
and after translation side by side in both directions (source → target, then back again), read
draft warnings inline, and activate it (``publish``: also send it to a server).

Example:
    >>> import jazz_nb as jz
    >>> from jazz_nb import s
    >>> from jazz_nb.lens import migration
    >>> v1 = s.define_app({"todos": s.table(name=s.string())})
    >>> v2 = s.define_app({"todos": s.table(title=s.string())})
    >>> db = jz.create_db(v1, app_id="widget-doc")
    >>> _ = db.insert(v1.todos, {"name": "milk"})
    >>> view = migrations(db)
    >>> view.load(migration(v1, v2))
    >>> "a rename?" in view.warnings.value, view.publish_button.disabled
    (True, True)
    >>> view.load(view.lens.rename_column("todos", "name", "title"))
    >>> "milk" in view.forward_after.value, view.publish_button.disabled
    (True, False)
    >>> view.activate()
    >>> db.migrations.graph.path(v1.schema_hash, v2.schema_hash)[0].lens == view.lens
    True
    >>> db.close()
"""

from __future__ import annotations

import html
import json
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import ipywidgets as widgets
import pandas as pd

from jazz_nb.errors import JazzError
from jazz_nb.lens.lens import Lens
from jazz_nb.lens.preview import view_context
from jazz_nb.lens.runtime import activate, stored_rows
from jazz_nb.lens.translate import initial, walk
from jazz_nb.query.results import run_arrow, to_df
from jazz_nb.query.sql import compile_query

if TYPE_CHECKING:
    from jazz_nb.db import Db
    from jazz_nb.schema.app import App

SAMPLE = 5


def lens_html(lens: Lens) -> str:
    """A lens as HTML: its ends, operations and (in red) the ambiguities of a draft.

    Example:
        >>> lens_html(Lens("0" * 64, "1" * 64, ())).startswith("<div><b>Lens</b>")
        True
    """
    state = ('<span style="color:#c92a2a"><b>draft</b></span>' if lens.is_draft
             else '<span style="color:#2b8a3e">ready</span>')
    ops = "".join(f"<li><code>{html.escape(line)}</code></li>" for line in lens.describe())
    return (f"<div><b>Lens</b> <code>{lens.label}</code> {state}"
            f"<ul>{ops or '<li>no operations</li>'}</ul>{warnings_html(lens)}</div>")


def warnings_html(lens: Lens) -> str:
    """The draft's ambiguities, one per line, with how to resolve each.

    Example:
        >>> warnings_html(Lens("0" * 64, "1" * 64, ()))
        ''
    """
    if not lens.is_draft:
        return ""
    items = "".join(f"<li><b>{html.escape(a.kind)}</b> {html.escape(str(a))}</li>"
                    for a in lens.ambiguities)
    return f'<div style="color:#c92a2a">Draft — resolve before activating:<ul>{items}</ul></div>'


def _frame_html(title: str, frame: pd.DataFrame) -> str:
    body = frame.to_html(max_rows=SAMPLE, border=0) if len(frame) else "<i>no rows</i>"
    return f"<div><b>{html.escape(title)}</b>{body}</div>"


class MigrationsView:
    """Schema versions, the lens graph and the lens workbench of one database."""

    def __init__(self, db: Db, *, publish: Callable[[Lens], Any] | None = None) -> None:
        self.db = db
        self.publish = publish
        self.candidates: dict[str, Lens] = {}
        self.versions = widgets.HTML()
        self.graph = widgets.HTML()
        self.picker = widgets.Dropdown(description="Lens", options=[])
        self.table = widgets.Dropdown(description="Table", options=[])
        self.editor = widgets.Textarea(layout=widgets.Layout(width="100%", height="10em"))
        self.apply_button = widgets.Button(description="Apply JSON")
        self.publish_button = widgets.Button(description="Activate", button_style="success")
        self.summary = widgets.HTML()
        self.warnings = widgets.HTML()
        self.message = widgets.HTML()
        self.forward_before, self.forward_after = widgets.HTML(), widgets.HTML()
        self.back_before, self.back_after = widgets.HTML(), widgets.HTML()
        self.box = widgets.VBox([
            widgets.HTML("<h4>Schema versions</h4>"), self.versions,
            widgets.HTML("<h4>Lens graph</h4>"), self.graph,
            widgets.HTML("<h4>Lens workbench</h4>"),
            widgets.HBox([self.picker, self.table]), self.summary, self.warnings,
            widgets.HBox([self.forward_before, self.forward_after]),
            widgets.HBox([self.back_before, self.back_after]),
            self.editor, widgets.HBox([self.apply_button, self.publish_button]), self.message])
        self.picker.observe(lambda change: self._show_lens(), names="value")
        self.table.observe(lambda change: self._show_rows(), names="value")
        self.apply_button.on_click(lambda _: self.apply_json())
        self.publish_button.on_click(lambda _: self.activate())
        for lens in db.migrations.graph if db.migrations is not None else ():
            self.candidates[lens.label] = lens
        self.refresh()

    # -- state ----------------------------------------------------------------------------------
    @property
    def lens(self) -> Lens | None:
        """The lens on the workbench."""
        return self.candidates.get(self.picker.value) if self.picker.value else None

    def load(self, lens: Lens) -> None:
        """Put ``lens`` (bound to its apps, drafts welcome) on the workbench."""
        if lens.old is None or lens.new is None:
            raise JazzError(f"lens {lens.label} is not bound to its schemas; use "
                            "lens.bind(old_app, new_app)")
        key = lens.label + (" (draft)" if lens.is_draft else "")
        self.candidates[key] = lens
        self.picker.options = list(self.candidates)
        self.picker.value = key
        self._show_lens()

    def apply_json(self) -> None:
        """Replace the workbench lens with the editor's JSON (bound to the same apps)."""
        current = self.lens
        if current is None:
            return
        try:
            self.load(Lens.from_json(json.loads(self.editor.value), old=current.old,
                                     new=current.new))
            self.message.value = ""
        except (JazzError, ValueError) as err:
            self.message.value = f'<span style="color:#c92a2a">{html.escape(str(err))}</span>'

    def activate(self) -> None:
        """Activate the workbench lens in this database (and ``publish`` it, if set up)."""
        lens = self.lens
        if lens is None:
            return
        try:
            activate(self.db, lens)
            if self.publish is not None:
                self.publish(lens)
            self.message.value = f"activated <code>{lens.label}</code>"
        except JazzError as err:
            self.message.value = f'<span style="color:#c92a2a">{html.escape(str(err))}</span>'
        self.refresh()

    # -- drawing --------------------------------------------------------------------------------
    def refresh(self) -> None:
        """Redraw versions, graph and workbench."""
        self.versions.value = self._versions_html()
        self.graph.value = self._graph_html()
        self.picker.options = list(self.candidates)
        self._show_lens()

    def _apps(self) -> Mapping[str, App]:
        migrations = self.db.migrations
        apps = dict(migrations.graph.schemas) if migrations is not None else {}
        apps.setdefault(self.db.app.schema_hash, self.db.app)
        return apps

    def _versions_html(self) -> str:
        apps = self._apps()
        counts = stored_rows(self.db.store, apps.values())
        migrations = self.db.migrations
        reach = migrations.graph.reachable(self.db.app.schema_hash) if migrations else []
        rows = []
        for schema_hash, app in apps.items():
            tables = "<br>".join(
                f"<b>{html.escape(n)}</b>({html.escape(', '.join(t.columns))}): "
                f"{counts[schema_hash][n]} rows" for n, t in app.tables.items())
            mark = "current" if schema_hash == self.db.app.schema_hash else (
                "reachable" if schema_hash in reach else "no lens path")
            rows.append(f"<tr><td><code>{schema_hash[:12]}</code></td><td>{mark}</td>"
                        f"<td>{tables}</td></tr>")
        return ("<table><tr><th>schema</th><th></th><th>tables: rows stored on its branch"
                f"</th></tr>{''.join(rows)}</table>")

    def _graph_html(self) -> str:
        migrations = self.db.migrations
        lenses = list(migrations.graph) if migrations is not None else []
        if not lenses:
            return "<i>no lenses yet</i>"
        return "<ul>" + "".join(
            f"<li><code>{lens.label}</code> ({len(lens.forward)} ops, both directions): "
            f"{html.escape('; '.join(lens.describe()))}</li>" for lens in lenses) + "</ul>"

    def _show_lens(self) -> None:
        lens = self.lens
        self.publish_button.disabled = lens is None or lens.is_draft
        if lens is None:
            self.summary.value, self.warnings.value = "<i>load a lens: view.load(lens)</i>", ""
            return
        self.summary.value = lens_html(lens).replace(warnings_html(lens), "")
        self.warnings.value = warnings_html(lens)
        self.editor.value = json.dumps(lens.to_json(), indent=1)
        assert lens.old is not None and lens.new is not None
        state = walk(initial(lens.old.tables), lens.forward)
        touched = [op.table for op in lens.forward]
        tables = sorted((n for n in lens.new.tables if n in state and state[n].origin),
                        key=lambda n: touched.index(n) if n in touched else len(touched))
        previous = self.table.value
        self.table.options = tables
        self.table.value = previous if previous in tables else (tables[0] if tables else None)
        self._show_rows()

    def _show_rows(self) -> None:
        lens = self.lens
        name = self.table.value
        if lens is None or not name or lens.old is None or lens.new is None:
            return
        origin = walk(initial(lens.old.tables), lens.forward)[name].origin
        assert origin is not None
        query = lens.old[origin].limit(SAMPLE)
        before = self._read(lens.old, query)
        self.forward_before.value = _frame_html(f"{origin} @ {lens.from_hash[:12]}", before)
        self.forward_after.value = _frame_html(
            f"→ {name} @ {lens.to_hash[:12]}",
            self.db.preview_lens(lens, lens.new[name].where(id={"in": list(before.index)})))
        self.back_before.value = self.forward_after.value
        self.back_after.value = _frame_html(
            f"→ back to {origin} @ {lens.from_hash[:12]}",
            self.db.preview_lens(lens, query, round_trip=True))

    def _read(self, app: App, query: Any) -> pd.DataFrame:
        ctx = view_context(self.db, app)
        if ctx is None:
            return pd.DataFrame()
        with self.db.store.lock:
            return to_df(run_arrow(self.db.store.conn, compile_query(query, context=ctx)))

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.box)


def migrations(db: Db, *, publish: Callable[[Lens], Any] | None = None) -> MigrationsView:
    """``jz.widgets.migrations(db)``: schema versions, lens graph and lens workbench.

    Example: ``view = jz.widgets.migrations(db); view.load(s.migration(v1, v2)); view``
    """
    return MigrationsView(db, publish=publish)


def migrations_command(shell: Any, args: str) -> MigrationsView:
    """``%jazz migrations [db]``: the widget for the db named ``db`` in the user namespace
    (optional when it holds exactly one ``Db``); a ``jazz_nb.notebook.magics`` subcommand.

    Example:
        >>> # %jazz migrations db
    """
    from jazz_nb.notebook.magics import find_db

    return migrations(find_db(shell, args))
