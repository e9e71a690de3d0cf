"""Plain-HTML views of live queries (the fallback outside widget front-ends)."""

from __future__ import annotations

from typing import Any


def live_html(live: Any) -> str:
    return f"<b>LiveQuery</b> {len(live)} rows"
