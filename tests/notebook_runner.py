"""Running a notebook of ``notebooks/`` in a real kernel (nbclient) for the notebook tests.

Example:
    >>> # nb, cells = run_notebook("quickstart.ipynb", monkeypatch); text_of(cells["live"])
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import nbclient
import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]


def text_of(cell: Any) -> str:
    """The text a code cell showed (streams, text/plain, text/html); fails if it raised."""
    parts = []
    for output in cell.outputs:
        assert output.output_type != "error", f"{output.ename}: {output.evalue}"
        if output.output_type == "stream":
            parts.append(output.text)
        for mime in ("text/plain", "text/html"):
            parts.append(str(output.get("data", {}).get(mime, "")))
    return "".join(parts)


def run_notebook(name: str, monkeypatch: pytest.MonkeyPatch, *, cwd: Path = ROOT,
                 ) -> tuple[Any, dict[str, Any]]:
    """Execute ``notebooks/<name>`` with widget state stored; the cells by their tags."""
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(
        [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]))
    nb = nbformat.read(ROOT / "notebooks" / name, as_version=4)
    nbclient.NotebookClient(nb, timeout=120, kernel_name="python3", store_widget_state=True,
                            resources={"metadata": {"path": str(cwd)}}).execute()
    for cell in nb.cells:
        if cell.cell_type == "code":
            text_of(cell)  # no cell raised
    cells = {tag: cell for cell in nb.cells for tag in cell.metadata.get("tags", [])}
    return nb, cells


def widget_states(nb: Any) -> dict[str, Any]:
    """The saved widget models of an executed notebook, by model id."""
    return nb.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
