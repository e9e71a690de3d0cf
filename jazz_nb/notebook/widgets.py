"""ipywidgets views."""

from __future__ import annotations

from typing import Any


def display_live(live: Any) -> None:
    from IPython.display import display

    display(live.df)
