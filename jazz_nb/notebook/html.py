"""HTML views of live queries: the widget's body and the plain-HTML fallback (nbconvert, GitHub,
front-ends without widgets).

Example:
    >>> import jazz_nb as jz
    >>> from jazz_nb import s
    >>> app = s.define_app({"todos": s.table(title=s.string())})
    >>> db = jz.create_db(app, app_id="html-doc")
    >>> live = db.live(app.todos)
    >>> row = db.insert(app.todos, {"title": "<b>milk</b>"})
    >>> html = live_html(live)
    >>> "1 row" in html and "&lt;b&gt;milk&lt;/b&gt;" in html and "jz-added" in html
    True
    >>> db.close()
"""

from __future__ import annotations

import datetime as dt
import html
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

HEAD_ROWS = 10
CELL_CHARS = 60
STYLE = """<style>
.jz-live {font-family: var(--jp-ui-font-family, sans-serif); font-size: 12px}
.jz-live table {border-collapse: collapse}
.jz-live th, .jz-live td {padding: 2px 6px; border-bottom: 1px solid #ddd; text-align: left}
.jz-live .jz-added td {background: #e3f6e3}
.jz-live td.jz-changed {background: #fff1b8}
.jz-live .jz-meta {color: #666}
.jz-table table {border-collapse: collapse; font-size: 12px}
.jz-table th, .jz-table td {padding: 2px 8px; text-align: left;
  border-bottom: 1px solid var(--jp-border-color2, #ddd)}
.jz-table .jz-current {font-weight: bold;
  background: var(--jp-warn-color3, rgba(255, 200, 0, 0.18))}
</style>"""


def _cell(value: Any) -> str:
    text = repr(value) if not isinstance(value, str) else value
    if len(text) > CELL_CHARS:
        text = text[:CELL_CHARS - 1] + "…"
    return html.escape(text)


def rows_label(n: int) -> str:
    """``"1 row"`` / ``"3 rows"``."""
    return f"{n:,} row" + ("" if n == 1 else "s")


def session_label(db: Any) -> str:
    """Whose view a db is: its session's user id, or ``unscoped``."""
    return db.session.user_id if db.session is not None else "unscoped"


def change_label(live: Any) -> str:
    """A one-line summary of the last change: counts per kind and when."""
    delta = live.last_delta
    if not delta and not delta.reset:
        return "no change yet"
    parts = [f"+{len(delta.added)}" if delta.added else "",
             f"~{len(delta.updated)}" if delta.updated else "",
             f"-{len(delta.removed)}" if delta.removed else ""]
    when = dt.datetime.fromtimestamp(delta.at).strftime("%H:%M:%S")
    return f"last change v{delta.version}: {' '.join(p for p in parts if p) or 'reset'} at {when}"


def header_html(live: Any) -> str:
    """Table, row count, status and the last change."""
    return (f"<b>live</b> <code>{html.escape(live.table)}</code> · "
            f"<b>{rows_label(len(live))}</b> · {html.escape(live.status)} · "
            f"<span class='jz-meta'>{html.escape(change_label(live))}</span>")


def head_html(live: Any, rows: int = HEAD_ROWS) -> str:
    """The first ``rows`` rows; added rows and changed cells of the last flush are marked."""
    table = live.arrow.slice(0, rows)
    names = table.column_names
    delta = live.last_delta
    added = set(delta.added)
    updated = delta.updated
    out = ["<table><thead><tr>"]
    out += [f"<th>{html.escape(n)}</th>" for n in names]
    out.append("</tr></thead><tbody>")
    for record in table.to_pylist():
        rid = record.get("id")
        marked = updated.get(rid, ())
        out.append("<tr class='jz-added'>" if rid in added else "<tr>")
        for name in names:
            cls = " class='jz-changed'" if name in marked else ""
            out.append(f"<td{cls}>{_cell(record[name])}</td>")
        out.append("</tr>")
    out.append("</tbody></table>")
    more = len(live) - table.num_rows
    if more > 0:
        out.append(f"<div class='jz-meta'>… {rows_label(more)} more</div>")
    return "".join(out)


def frame_html(frame: pd.DataFrame, current: str | None = None) -> str:
    """A small DataFrame as an HTML table (index levels as header cells, repeated labels
    left blank), the column named ``current`` marked; no jinja2 needed, unlike ``.style``.

    Example:
        >>> import pandas as pd
        >>> frame = pd.DataFrame({"ann": ["1/1"], "bob": ["0/1"]}, index=["read"])
        >>> "<td class='jz-current'>0/1</td>" in frame_html(frame, current="bob")
        True
    """
    marked = [name == current for name in frame.columns]
    levels = frame.index.nlevels
    names = [n or "" for n in frame.index.names]
    out = [STYLE, "<div class='jz-table'><table><thead><tr>"]
    out += [f"<th>{html.escape(str(n))}</th>" for n in names]
    out += [f"<th{_mark(m)}>{html.escape(str(c))}</th>" for c, m in zip(frame.columns, marked,
                                                                         strict=True)]
    out.append("</tr></thead><tbody>")
    previous: tuple[Any, ...] = ()
    for label, values in zip(frame.index, frame.itertuples(index=False), strict=True):
        labels = label if levels > 1 else (label,)
        shown = [("" if previous[:i + 1] == labels[:i + 1] else str(v))
                 for i, v in enumerate(labels)]
        previous = labels
        out.append("<tr>" + "".join(f"<th>{html.escape(v)}</th>" for v in shown))
        out += [f"<td{_mark(m)}>{_cell(v)}</td>" for v, m in zip(values, marked, strict=True)]
        out.append("</tr>")
    out.append("</tbody></table></div>")
    return "".join(out)


def _mark(current: bool) -> str:
    return " class='jz-current'" if current else ""


def live_html(live: Any, rows: int = HEAD_ROWS) -> str:
    """The whole view as one HTML string (``LiveQuery._repr_html_``)."""
    return (f"{STYLE}<div class='jz-live'><div>{header_html(live)}</div>"
            f"{head_html(live, rows)}</div>")
