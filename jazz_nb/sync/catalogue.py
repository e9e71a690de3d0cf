"""An app's catalogue on the server: published schemas and the permissions head (§5.5, §8.4).

Schemas are keyed by their Jazz hash. Permissions are immutable bundles; the head names the
current one and is moved by compare-and-swap: a publish must name the current head's bundle id
as its ``expected_parent`` (``None`` for the first), else ``StaleParent``. Re-publishing the
same permissions for the same schema returns the current head unchanged. With a ``path`` the
catalogue is one JSON file, replaced atomically (write, fsync, rename) on every change.

Example:
    >>> from jazz_nb import s
    >>> app = s.define_app({"todos": s.table(title=s.string())})
    >>> cat = Catalogue(None)
    >>> cat.publish_schema(app.to_json()) == app.schema_hash
    True
    >>> head = cat.publish_permissions(app.schema_hash, {}, None)
    >>> head["version"], cat.publish_permissions(app.schema_hash, {}, None) == head
    (1, True)
    >>> read_all = {"todos": {"select": {"using": {"type": "True"}}}}
    >>> cat.publish_permissions(app.schema_hash, read_all, None)
    Traceback (most recent call last):
    ...
    jazz_nb.sync.catalogue.StaleParent: stale permissions parent: expected None, head is ...
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from jazz_nb.errors import JazzError
from jazz_nb.lens import Lens, LensGraph
from jazz_nb.policy.bundle import Permissions
from jazz_nb.schema.app import App
from jazz_nb.store.versions import new_batch_id

CATALOGUE = "catalogue.json"  # the file of an app's folder; a folder with one is an app


def parse_schema(schema: Any) -> App:
    """A published schema (``App.to_json()`` form) as an ``App``; ``JazzError`` if malformed.

    Example:
        >>> parse_schema({"t": "x"})  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        jazz_nb.errors.JazzError: schema JSON is malformed: ...
    """
    if not isinstance(schema, dict) or not schema:
        raise JazzError("a schema is the compiled JSON object {table: {columns: [...]}}")
    try:
        return App.from_json(schema)
    except (AttributeError, KeyError, TypeError, ValueError) as err:
        raise JazzError(f"schema JSON is malformed: {err!r}") from None


class StaleParent(JazzError):
    """A permissions publish named another parent than the current head's bundle."""


class Catalogue:
    """Schemas (hash -> app) and permissions bundles + head of one app id."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.schemas: dict[str, dict[str, Any]] = {}  # hash -> {"schema", "publishedAt"}
        self.apps: dict[str, App] = {}
        self.bundles: dict[str, dict[str, Any]] = {}  # id -> {"schemaHash", "permissions"}
        self.head: dict[str, Any] | None = None
        self.lenses: list[dict[str, Any]] = []  # published lens JSON (jazz_nb.lens)
        if path is not None and path.exists():
            data = json.loads(path.read_text())
            self.schemas, self.bundles, self.head = data["schemas"], data["bundles"], data["head"]
            self.apps = {h: App.from_json(e["schema"]) for h, e in self.schemas.items()}
            self.lenses = data.get("lenses", [])

    def _save(self) -> None:
        if self.path is None:
            return
        data = {"schemas": self.schemas, "bundles": self.bundles, "head": self.head,
                "lenses": self.lenses}
        tmp = self.path.with_suffix(".tmp")
        with open(tmp, "w") as handle:
            json.dump(data, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, self.path)

    def publish_schema(self, schema: Any) -> str:
        """Store a compiled schema (``App.to_json()`` form); returns its hash. Idempotent."""
        app = parse_schema(schema)
        if app.schema_hash not in self.schemas:
            self.schemas[app.schema_hash] = {"schema": app.to_json(),
                                             "publishedAt": int(time.time() * 1000)}
            self.apps[app.schema_hash] = app
            self._save()
        return app.schema_hash

    def graph(self) -> LensGraph:
        """Published schemas and lenses (migrations) as a ``LensGraph``."""
        return LensGraph([Lens.from_json(data) for data in self.lenses], self.apps.values())

    def publish_migration(self, data: Any) -> Lens:
        """Store a lens between two published schemas (checked: no draft, no contradiction);
        re-publishing a lens for the same two hashes replaces it. Returns the bound lens."""
        lens = self.graph().add_lens(Lens.from_json(data))
        entry = lens.to_json()
        kept = [x for x in self.lenses if (x["fromHash"], x["toHash"]) != (lens.from_hash,
                                                                            lens.to_hash)]
        if [*kept, entry] != self.lenses:
            self.lenses = [*kept, entry]
            self._save()
        return lens

    def first_app(self) -> App | None:
        """The earliest published schema (the server store is created with it)."""
        if not self.schemas:
            return None
        first = min(self.schemas, key=lambda h: self.schemas[h]["publishedAt"])
        return self.apps[first]

    def publish_permissions(self, schema_hash: str, permissions: Any,
                            expected_parent: str | None) -> dict[str, Any]:
        """Compare-and-swap the permissions head; returns the (new) head."""
        app = self.apps.get(schema_hash)
        if app is None:
            raise JazzError(f"schema {schema_hash[:12]!r} is not published; publish it first")
        bundle = Permissions.from_json(permissions, app).to_json()
        current = self.head["bundleObjectId"] if self.head else None
        if self.head and self.head["schemaHash"] == schema_hash and \
                self.bundles[current]["permissions"] == bundle:
            return self.head
        if expected_parent != current:
            raise StaleParent(f"stale permissions parent: expected {expected_parent}, "
                              f"head is {current}")
        bundle_id = new_batch_id()
        self.bundles[bundle_id] = {"schemaHash": schema_hash, "permissions": bundle}
        self.head = {"schemaHash": schema_hash,
                     "version": (self.head["version"] + 1) if self.head else 1,
                     "parentBundleObjectId": current, "bundleObjectId": bundle_id}
        self._save()
        return self.head

    def permissions(self) -> tuple[str, Permissions] | None:
        """``(schema hash, permissions)`` of the head, or ``None`` before any publish."""
        if self.head is None:
            return None
        bundle = self.bundles[self.head["bundleObjectId"]]
        return bundle["schemaHash"], Permissions.from_json(bundle["permissions"])
