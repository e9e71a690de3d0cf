"""Publishing to a sync server: schemas and permissions over the admin HTTP routes (§5.5).

``deploy`` publishes the schema (a no-op if the server has it), then — if permissions are
given — publishes them on top of the current head (compare-and-swap: a concurrent publish in
between makes it fail with "stale permissions parent").

Example:
    >>> http_url("ws://127.0.0.1:4200/")
    'http://127.0.0.1:4200'
    >>> # jz.deploy(server.url, "my-app", admin_secret=secret, app=app, permissions=perms)
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from jazz_nb.auth.server_auth import ADMIN_SECRET_HEADER, auth_headers
from jazz_nb.auth.session import Session
from jazz_nb.errors import JazzError
from jazz_nb.policy.bundle import Permissions
from jazz_nb.schema.app import App


def http_url(url: str) -> str:
    """The server's HTTP base URL from an ``http(s)://`` or ``ws(s)://`` URL.

    Example:
        >>> http_url("wss://sync.example.com")
        'https://sync.example.com'
    """
    url = url.rstrip("/")
    for ws, http in (("ws://", "http://"), ("wss://", "https://")):
        if url.startswith(ws):
            return http + url[len(ws):]
    if not url.startswith(("http://", "https://")):
        raise JazzError(f"server URL {url!r} must start with ws://, wss://, http:// or https://")
    return url


def credential_headers(auth: Mapping[str, Any]) -> dict[str, str]:
    """HTTP headers for credentials in ``hello.auth`` form (``{"token": ...}``, ...).

    Example:
        >>> credential_headers({"token": "t"})
        {'Authorization': 'Bearer t'}
    """
    session = Session.from_json(auth["session"]) if "session" in auth else None
    return auth_headers(token=auth.get("token"), session=session,
                        backend_secret=auth.get("backend_secret"),
                        admin_secret=auth.get("admin_secret"))


def request(url: str, path: str, *, admin_secret: str | None = None,
            auth: Mapping[str, Any] | None = None, body: Any = None,
            timeout: float = 10.0) -> tuple[int, Any]:
    """One JSON request to the server; returns ``(status, body)`` (errors included).

    ``auth``: credentials in ``hello.auth`` form (the catalogue routes need some).

    Example:
        >>> # request(server.url, "/health")  -> (200, {"status": "healthy"})
    """
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(http_url(url) + path, data=data,
                                 method="GET" if body is None else "POST")
    req.add_header("Content-Type", "application/json")
    for name, value in credential_headers(auth or {}).items():
        req.add_header(name, value)
    if admin_secret is not None:
        req.add_header(ADMIN_SECRET_HEADER, admin_secret)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as reply:
            return reply.status, json.loads(reply.read() or b"null")
    except urllib.error.HTTPError as err:
        try:
            return err.code, json.loads(err.read() or b"null")
        finally:
            err.close()


def _ok(status: int, body: Any, what: str) -> Any:
    if status >= 300:
        message = (body.get("message") or body.get("error")) if isinstance(body, dict) else body
        raise JazzError(f"{what} failed ({status}): {message}")
    return body


def publish_schema(url: str, app_id: str, app: App, *, admin_secret: str) -> str:
    """Publish ``app``'s schema; returns its hash.

    Example:
        >>> # publish_schema(server.url, "my-app", app, admin_secret=secret) == app.schema_hash
    """
    body = _ok(*request(url, f"/apps/{app_id}/admin/schemas", admin_secret=admin_secret,
                        body={"schema": app.to_json()}), "publishing the schema")
    return str(body["hash"])


def permissions_head(url: str, app_id: str, *, admin_secret: str) -> dict[str, Any] | None:
    """The current permissions head (``None`` before the first publish).

    Example:
        >>> # permissions_head(server.url, "my-app", admin_secret=secret)["version"]
    """
    body = _ok(*request(url, f"/apps/{app_id}/admin/permissions/head",
                        admin_secret=admin_secret), "reading the permissions head")
    return body["head"]


def publish_permissions(url: str, app_id: str, app: App, permissions: Any, *,
                        admin_secret: str, expected_parent: str | None) -> dict[str, Any]:
    """Publish permissions for ``app``'s schema on top of ``expected_parent``; returns the head.

    Example:
        >>> # publish_permissions(url, "my-app", app, perms, admin_secret=s, expected_parent=None)
    """
    if isinstance(permissions, Permissions):
        permissions = permissions.to_json()
    body = _ok(*request(url, f"/apps/{app_id}/admin/permissions", admin_secret=admin_secret,
                        body={"schemaHash": app.schema_hash, "permissions": permissions,
                              "expectedParentBundleObjectId": expected_parent}),
               "publishing permissions")
    return body["head"]


@dataclass(frozen=True)
class Deployment:
    """What ``deploy`` published: the schema hash and the permissions head (if any).

    Example:
        >>> Deployment("ab" * 32, None).schema_hash[:4]
        'abab'
    """

    schema_hash: str
    permissions_head: dict[str, Any] | None


def deploy(url: str, app_id: str, *, admin_secret: str, app: App,
           permissions: Any = None, migration: Any = None) -> Deployment:
    """Publish ``app``'s schema, then (if given) the ``migration`` lens connecting it to
    another version (``jazz_nb.lens``), then ``permissions``, to the server at ``url``.

    Example:
        >>> # jz.deploy(server.url, "my-app", admin_secret=secret, app=app, permissions=perms)
    """
    schema_hash = publish_schema(url, app_id, app, admin_secret=admin_secret)
    if migration is not None:
        from jazz_nb.lens.publish import publish_migration

        publish_migration(url, app_id, migration, admin_secret=admin_secret)
    head = permissions_head(url, app_id, admin_secret=admin_secret)
    if permissions is not None:
        head = publish_permissions(url, app_id, app, permissions, admin_secret=admin_secret,
                                   expected_parent=head["bundleObjectId"] if head else None)
    return Deployment(schema_hash, head)
