"""HTTP routes, deploy (compare-and-swap), the CLI, JWKS auth and the embedded server."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

import jazz_nb as jz
from jazz_nb.policy import define_permissions
from jazz_nb.sync import connect, deploy, start_local_server, stop_embedded_server
from jazz_nb.sync.cli import add_sync_commands
from jazz_nb.sync.deploy import permissions_head, publish_permissions, request
from jazz_nb.testing.jwt_issuer import start_test_jwt_issuer
from tests.sync.conftest import ADMIN, creator_rules, open_rules, todo_app

pytestmark = pytest.mark.slow


def test_health_and_catalogue_routes(server, app, app_id):
    assert request(server.url, "/health") == (200, {"status": "healthy"})
    assert request(server.url, "/nope")[0] == 404
    assert request(server.url, "/apps/bad%20id/schemas")[0] == 404
    assert request(server.url, f"/apps/{app_id}/schemas", admin_secret=ADMIN)[0] == 404
    deploy(server.url, app_id, admin_secret=ADMIN, app=app)
    status, body = request(server.url, f"/apps/{app_id}/schemas", admin_secret=ADMIN)
    assert status == 200 and body["hashes"] == [app.schema_hash]
    path = f"/apps/{app_id}/schema/{app.schema_hash}"
    assert request(server.url, path)[0] == 401  # credentials of the app needed
    assert request(server.url, path, admin_secret="wrong")[0] == 401
    status, body = request(server.url, path, admin_secret=ADMIN)
    assert status == 200 and jz.s.App.from_json(body["schema"]).schema_hash == app.schema_hash
    status, body = request(server.url, f"/apps/{app_id}/admin/schemas", admin_secret=ADMIN,
                           body={"schema": "not a schema"})
    assert status == 400


def test_permissions_compare_and_swap(server, app, app_id, clients):
    first = deploy(server.url, app_id, admin_secret=ADMIN, app=app,
                   permissions=define_permissions(app, open_rules))
    assert first.permissions_head["version"] == 1
    again = deploy(server.url, app_id, admin_secret=ADMIN, app=app,
                   permissions=define_permissions(app, open_rules))
    assert again.permissions_head == first.permissions_head  # identical: a no-op
    stricter = define_permissions(app, creator_rules)
    with pytest.raises(jz.JazzError, match="stale permissions parent"):
        publish_permissions(server.url, app_id, app, stricter, admin_secret=ADMIN,
                            expected_parent=None)
    alice, bob = clients(), clients()
    alice.insert(app.todos, {"title": "alice's"}).wait("global", timeout=10)
    bob_live = bob.live(app.todos)
    bob_live.wait_for(lambda lq: len(lq) == 1, timeout=10)
    head = publish_permissions(server.url, app_id, app, stricter, admin_secret=ADMIN,
                               expected_parent=first.permissions_head["bundleObjectId"])
    assert head["version"] == 2
    assert permissions_head(server.url, app_id, admin_secret=ADMIN) == head
    with pytest.raises(jz.WriteRejected):  # the new head is enforced at once
        bob.update(app.todos, bob_live.ids[0], {"title": "bob's"}).wait("global", timeout=10)
    status, body = request(server.url, f"/apps/{app_id}/admin/introspection/subscriptions",
                           admin_secret=ADMIN)
    assert status == 200 and {"table": "todos"}.items() <= body["subscriptions"][0][
        "query"].items()


def test_external_jwt_via_jwks(app, app_id):
    with start_test_jwt_issuer("ES256") as issuer, start_local_server(
            port=0, admin_secret=ADMIN, jwks_url=issuer.jwks_url) as jwks_server:
        deploy(jwks_server.url, app_id, admin_secret=ADMIN, app=app,
               permissions=define_permissions(app, creator_rules))
        alice = connect(app, app_id=app_id, server_url=jwks_server.url,
                        token=issuer.token_for("alice"))
        bob = connect(app, app_id=app_id, server_url=jwks_server.url,
                      token=issuer.token_for("bob"))
        try:
            row = alice.insert(app.todos, {"title": "hers"}).wait("global", timeout=10)
            assert row["title"] == "hers" and alice.session.user_id == "alice"
            assert bob.all(app.todos, tier="edge") == []
            assert len(alice.all(app.todos, tier="edge")) == 1
        finally:
            alice.close()
            bob.close()
        with start_test_jwt_issuer("ES256") as impostor, pytest.raises(
                jz.ProtocolError) as refused:  # signed by a key the server does not trust
            connect(app, app_id=app_id, server_url=jwks_server.url,
                    token=impostor.token_for("alice"))
        assert refused.value.code == "unauthenticated"
        with pytest.raises(jz.AuthError):  # not even a JWT
            connect(app, app_id=app_id, server_url=jwks_server.url, token="a.b.c")


def test_cli_parses_every_server_flag():
    import argparse

    parser = argparse.ArgumentParser()
    add_sync_commands(parser.add_subparsers())
    args = parser.parse_args(["server", "my-app", "-p", "0", "-d", "/tmp/x", "--in-memory",
                              "--admin-secret", "a", "--backend-secret", "b",
                              "--allow-local-first-auth", "--jwks-url", "http://k",
                              "--max-frame-bytes", "1024"])
    assert (args.app_id, args.port, args.max_frame_bytes, args.allow_local_first_auth) == (
        "my-app", 0, 1024, True)
    with pytest.raises(SystemExit):
        parser.parse_args(["server", "--jwks-url", "u", "--jwt-public-key", "k"])


def test_cli_deploy_module_app(server, app_id, tmp_path):
    (tmp_path / "todo_schema.py").write_text(textwrap.dedent("""
        from jazz_nb import s
        from jazz_nb.policy import define_permissions
        app = s.define_app({"notes": s.table(body=s.string())})
        permissions = define_permissions(app, lambda policy: policy.notes.managed_by_creator())
    """))
    result = subprocess.run(
        [sys.executable, "-m", "jazz_nb.sync.cli", "deploy", "todo_schema:app", "--app-id",
         app_id, "--server", server.url, "--admin-secret", ADMIN],
        cwd=tmp_path, capture_output=True, text=True, timeout=60, check=True)
    out = json.loads(result.stdout)
    assert out["permissionsHead"]["version"] == 1
    assert request(server.url, f"/apps/{app_id}/schemas", admin_secret=ADMIN)[1]["hashes"] == [
        out["schemaHash"]]


def test_embedded_server_is_started_once_and_reused(app_id, tmp_path):
    app = todo_app()
    first = connect(app, app_id=app_id)
    second = connect(app, app_id=app_id)
    try:
        assert first.status.server_url == second.status.server_url
        row = first.insert(app.todos, {"title": "embedded"}).wait("global", timeout=10)
        assert second.one(app.todos, tier="edge").id == row.id
        assert (tmp_path / "embedded" / "server.json").exists()
    finally:
        first.close()
        second.close()
        assert stop_embedded_server()
    assert not stop_embedded_server()
