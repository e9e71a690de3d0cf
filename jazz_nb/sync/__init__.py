"""Sync: the protocol (docs/protocol.md), the server, and the client that keeps a store in sync.

Example:
    >>> from jazz_nb import sync
    >>> sync.SyncStatus("local").state
    'local'
    >>> # with sync.start_local_server(port=0) as server:
    >>> #     sync.deploy(server.url, "my-app", admin_secret=server.admin_secret, app=app,
    >>> #                 permissions=perms)
    >>> #     db = sync.connect(app, app_id="my-app", server_url=server.url)
"""

from jazz_nb.sync.client import SyncStatus
from jazz_nb.sync.connect import connect
from jazz_nb.sync.deploy import Deployment, deploy
from jazz_nb.sync.process import LocalServer, start_local_server, stop_embedded_server

__all__ = ["Deployment", "LocalServer", "SyncStatus", "connect", "deploy",
           "start_local_server", "stop_embedded_server"]
