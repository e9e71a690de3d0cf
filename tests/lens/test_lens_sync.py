"""A v1 client and a v2 client of one app sync through one server process and each sees the
other's writes in its own shape, live; lenses are published with ``deploy(migration=...)`` and
``jazz-nb migrations push``."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from pathlib import Path

import pytest

import jazz_nb as jz
from jazz_nb import s
from jazz_nb.auth.identity import generate_secret
from jazz_nb.lens import Lens, LensGraph
from jazz_nb.lens.cli import add_migration_commands
from jazz_nb.lens.files import create_migration
from jazz_nb.lens.publish import fetch_graph, publish_migration
from jazz_nb.sync import connect, deploy, start_local_server
from jazz_nb.sync.connect import allow_all
from jazz_nb.sync.deploy import request
from jazz_nb.sync.process import LocalServer

pytestmark = pytest.mark.slow
ADMIN = "lens-admin"


@pytest.fixture(autouse=True)
def _isolated(isolated_env: None) -> None:
    """Every test here runs with ``isolated_env`` (tests/conftest.py)."""


@pytest.fixture(scope="module")
def server() -> Iterator[LocalServer]:
    with start_local_server(port=0, admin_secret=ADMIN) as running:
        yield running


def client(server: LocalServer, app: s.App, app_id: str) -> jz.Db:
    return connect(app, app_id=app_id, server_url=server.url, secret=generate_secret())


def test_v1_and_v2_clients_see_each_other_live(server: LocalServer, v1: s.App, v2: s.App,
                                               lens12: Lens) -> None:
    app_id = "lens-sync-live"
    deploy(server.url, app_id, admin_secret=ADMIN, app=v1,
           permissions=allow_all(v1))
    old = client(server, v1, app_id)
    old_live = old.live(v1.todos.order_by("title"))
    milk = old.insert(v1.todos, {"title": "milk"}).wait("global", timeout=10)

    deploy(server.url, app_id, admin_secret=ADMIN, app=v2, migration=lens12)
    new = client(server, v2, app_id)
    assert new.migrations.graph.path(v1.schema_hash, v2.schema_hash) is not None
    new_live = new.live(v2.todos.order_by("title"))
    new_live.wait_for(lambda lq: milk.id in lq.ids, timeout=10)
    assert new_live.df.loc[milk.id, "priority"] == 1  # the lens default, in v2's shape

    bike = new.insert(v2.todos, {"title": "bike", "priority": 5}).wait("global", timeout=10)
    old_live.wait_for(lambda lq: bike.id in lq.ids, timeout=10)  # learned the lens
    assert list(old_live.df.columns) == ["title", "done", "project_id"]

    new.update(v2.todos, milk.id, {"title": "oat milk", "priority": 3}).wait("global",
                                                                              timeout=10)
    old_live.wait_for(lambda lq: "oat milk" in list(lq.df["title"]), timeout=10)
    old.update(v1.todos, bike.id, {"done": True}).wait("global", timeout=10)
    new_live.wait_for(lambda lq: bool(lq.df.loc[bike.id, "done"]), timeout=10)
    # the v1 write built on v2's row and knows no priority: the whole newest row wins
    assert new_live.df.loc[bike.id, "priority"] == 1
    assert new_live.df.loc[milk.id, "priority"] == 3
    old.close()
    new.close()


def test_server_stores_and_serves_the_lens_graph(server: LocalServer, v1: s.App, v2: s.App,
                                                 v3: s.App, lens12: Lens, lens23: Lens,
                                                 tmp_path: Path) -> None:
    app_id = "lens-sync-graph"
    for app in (v1, v2, v3):
        deploy(server.url, app_id, admin_secret=ADMIN, app=app)
    answer = publish_migration(server.url, app_id, lens12, admin_secret=ADMIN)
    assert answer == {"objectId": lens12.object_id, "fromHash": v1.schema_hash,
                      "toHash": v2.schema_hash}
    path = create_migration(v2, v3, tmp_path, "rename title")
    path.write_text(path.read_text().replace("    # .rename_column(", "    .rename_column("))
    parser = argparse.ArgumentParser()
    add_migration_commands(parser.add_subparsers())
    args = parser.parse_args(["migrations", "push", str(path), "--server", server.url,
                              "--app-id", app_id, "--admin-secret", ADMIN])
    assert args.func(args) == 0
    graph = fetch_graph(server.url, app_id, {"admin_secret": ADMIN})
    assert isinstance(graph, LensGraph) and graph.lenses == [lens12, lens23]
    assert [st.lens for st in graph.path(v3.schema_hash, v1.schema_hash)] == [lens23, lens12]

    draft = {"fromHash": v2.schema_hash, "toHash": v1.schema_hash, "forward": []}
    status, body = request(server.url, f"/apps/{app_id}/admin/migrations", admin_secret=ADMIN,
                           body=draft)
    assert status == 400 and "does not say how to remove_column todos.priority" in str(body)
    status, _ = request(server.url, f"/apps/{app_id}/admin/migrations", body=lens12.to_json())
    assert status in (401, 403)
