"""Live frames across schema versions: old and new views of one store follow each other."""

from __future__ import annotations

import jazz_nb as jz
from jazz_nb import s
from jazz_nb.lens import Lens


def test_live_frame_follows_writes_of_later_versions_and_recompiles(
        v1: s.App, v2: s.App, v3: s.App, lens12: Lens, lens23: Lens) -> None:
    from jazz_nb.lens.runtime import evolve

    with jz.create_db(v1, app_id="lens-live") as db1:
        row = db1.insert(v1.todos, {"title": "milk"})
        live = db1.live(v1.todos.order_by("title"))
        frame = live.df
        db2 = evolve(db1, v2, lens12)  # the graph grew: the live query now reads v2 too
        db2.insert(v2.todos, {"title": "bike", "priority": 4})
        assert live.df is frame and list(frame["title"]) == ["bike", "milk"]
        db3 = evolve(db2, v3, lens23)
        db3.update(v3.todos, row.id, {"text": "oat milk"})
        assert list(frame["title"]) == ["bike", "oat milk"]
        newest = db3.live(v3.todos.order_by("priority", "desc").order_by("text"))
        db1.insert(v1.todos, {"title": "call mum"})
        assert list(newest.df["text"]) == ["bike", "call mum", "oat milk"]
        assert list(newest.df["priority"]) == [4, 1, 1]
        assert list(frame["title"]) == ["bike", "call mum", "oat milk"]
        db3.delete(v3.todos, row.id)
        assert list(frame["title"]) == ["bike", "call mum"]
