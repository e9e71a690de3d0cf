"""Publishing lenses to a sync server and reading its lens graph (§8.4).

``publish_migration`` publishes both schemas (a no-op when the server has them) and then the
lens with ``POST /apps/<id>/admin/migrations`` — body ``{fromHash, toHash, forward}``, answer
``201 {objectId, fromHash, toHash}``. ``fetch_graph`` reads ``GET /apps/<id>/migrations``: every
published schema and lens, as ``LensGraph.to_json()``, answered only to credentials of the app
(the db's token, backend or admin secret); a client learns it when it connects and again when
rows of a schema it does not know arrive (``learn_graph``).

Example:
    >>> # publish_migration(server.url, "my-app", s.migration(v1, v2), admin_secret=secret)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from jazz_nb.errors import MigrationError
from jazz_nb.lens.graph import LensGraph
from jazz_nb.lens.lens import Lens

if TYPE_CHECKING:
    from jazz_nb.lens.runtime import Migrations


def publish_migration(url: str, app_id: str, lens: Lens, *, admin_secret: str,
                      ) -> dict[str, Any]:
    """Publish ``lens`` (not a draft) and its two schemas; returns the server's answer.

    Example:
        >>> # publish_migration(url, "my-app", lens, admin_secret=secret)["objectId"]
    """
    from jazz_nb.sync.deploy import publish_schema, request

    lens.check_active()
    if lens.old is None or lens.new is None:
        raise MigrationError(f"lens {lens.label} is not bound to its schemas; use "
                             "lens.bind(old_app, new_app) before publishing")
    for app in (lens.old, lens.new):
        publish_schema(url, app_id, app, admin_secret=admin_secret)
    status, body = request(url, f"/apps/{app_id}/admin/migrations", admin_secret=admin_secret,
                           body=lens.to_json())
    if status >= 300:
        message = body.get("error") if isinstance(body, dict) else body
        raise MigrationError(f"publishing lens {lens.label} failed ({status}): {message}")
    return dict(body)


def fetch_graph(url: str, app_id: str, auth: Mapping[str, Any] | None = None) -> LensGraph:
    """The server's published schemas and lenses of ``app_id``; ``auth`` are credentials of the
    app in ``hello.auth`` form (``{"token": ...}``, a backend or the admin secret): the server
    answers catalogue reads only to them.

    Example:
        >>> # fetch_graph(server.url, "my-app", {"admin_secret": s}).reachable(app.schema_hash)
    """
    from jazz_nb.sync.deploy import request

    status, body = request(url, f"/apps/{app_id}/migrations", auth=auth)
    if status >= 300:
        raise MigrationError(f"reading the lens graph of app {app_id!r} failed ({status}): "
                             f"{body}")
    return LensGraph.from_json(body)


def server_graph(url: str, app_id: str, auth: Mapping[str, Any] | None = None) -> LensGraph:
    """``fetch_graph``, or an empty graph when the server cannot be reached (offline start).

    Example:
        >>> server_graph("http://127.0.0.1:9", "my-app").lenses
        []
    """
    try:
        return fetch_graph(url, app_id, auth)
    except (MigrationError, OSError):
        return LensGraph()


def learn_graph(migrations: Migrations, url: str, app_id: str,
                auth: Mapping[str, Any] | None = None) -> None:
    """Activate every schema and lens the server knows in a client's ``migrations``.

    Example:
        >>> # learn_graph(db.migrations, server.url, "my-app", {"token": token})
    """
    graph = fetch_graph(url, app_id, auth)
    migrations.add(*graph.lenses, schemas=list(graph.schemas.values()))
