"""A real tollgate server for end-to-end tests: uvicorn on a loopback port, in a thread.

Nothing of tollgate is mocked: requests go over HTTP into the real app, the real pipeline
calls the upstream simulator over HTTP, records go through the real journal into the real
database (SQLite, or PostgreSQL when a URL is given).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
import uvicorn

from tollgate.app import create_app
from tollgate.cli.demo import simulator_credentials
from tollgate.core.clock import Clock
from tollgate.core.settings import Settings
from tollgate.routes.wiring import AppContext
from tollgate.testing import Simulator

ADMIN_TOKEN = "admin-token-for-tests-0123456789"
PROVIDER_KEY = "sk-sim-provider-secret-7777"


class GatewayServer:
    def __init__(self, settings: Settings, clock: Clock | None = None, **app_options: Any) -> None:
        self.settings = settings
        self.app = create_app(settings, clock=clock, **app_options)
        self._server = uvicorn.Server(
            uvicorn.Config(
                self.app,
                host="127.0.0.1",
                port=0,
                log_config=None,
                access_log=False,
                lifespan="on",
                timeout_graceful_shutdown=5,
            )
        )
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.url = ""
        self.loop: asyncio.AbstractEventLoop | None = None

    def _run(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.loop.run_until_complete(self._server.serve())

    def start(self) -> GatewayServer:
        self._thread.start()
        deadline = time.monotonic() + 20
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("tollgate did not start")
            time.sleep(0.01)
        port = self._server.servers[0].sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=20)

    @property
    def ctx(self) -> AppContext:
        ctx: AppContext = self.app.state.ctx
        return ctx

    def run(self, coro: Any) -> Any:
        """Run a coroutine on the server's loop (e.g. to flush the journal) and wait for it."""
        assert self.loop is not None
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=30)

    def flush(self) -> None:
        assert self.run(self.ctx.journal.flush(timeout=10)) is True


@contextmanager
def running_gateway(
    home: Path,
    *,
    database_url: str | None = None,
    clock: Clock | None = None,
    app_options: Mapping[str, Any] | None = None,
    **overrides: Any,
) -> Iterator[GatewayServer]:
    """A started server; ``app_options`` go to ``create_app`` (seams such as ``ingest_quota``)."""
    settings = Settings(home=home, database_url=database_url, admin_token=ADMIN_TOKEN, **overrides)
    server = GatewayServer(settings, clock, **dict(app_options or {})).start()
    try:
        yield server
    finally:
        server.stop()


@dataclass
class Tenant:
    """A workspace with a gateway key and credentials for every provider, pointed at the simulator."""

    server: GatewayServer
    workspace_id: str
    key: str
    key_id: str
    credentials: dict[str, str]

    @property
    def url(self) -> str:
        return self.server.url

    def headers(self, **extra: str) -> dict[str, str]:
        return {"authorization": f"Bearer {self.key}", **extra}

    def admin(self, method: str, path: str, **kwargs: Any) -> httpx2.Response:
        return admin_call(self.server, method, path, workspace=self.workspace_id, **kwargs)

    def record(self, request_id: str) -> dict[str, Any]:
        """The usage record of one call, once the journal has moved it to the database."""
        self.server.flush()
        response = self.admin("GET", f"/v1/requests/{request_id}")
        assert response.status_code == 200, response.text
        data: dict[str, Any] = response.json()
        return data


def admin_call(
    server: GatewayServer,
    method: str,
    path: str,
    *,
    workspace: str | None = None,
    json: Any = None,
    params: Mapping[str, Any] | None = None,
    token: str = ADMIN_TOKEN,
) -> httpx2.Response:
    headers = {"authorization": f"Bearer {token}"}
    if workspace:
        headers["x-tollgate-workspace"] = workspace
    return httpx2.request(method, server.url + path, headers=headers, json=json, params=params, timeout=30)


def make_tenant(server: GatewayServer, simulator_root: str, name: str = "acme") -> Tenant:
    ws = admin_call(server, "POST", "/v1/workspaces", json={"name": name})
    assert ws.status_code == 201, ws.text
    workspace_id = ws.json()["id"]
    key = admin_call(server, "POST", "/v1/keys", workspace=workspace_id, json={"name": "app"})
    assert key.status_code == 201, key.text
    credentials = {}
    # The simulator is asked only for its provider table.
    for body in simulator_credentials(Simulator(), simulator_root, PROVIDER_KEY):
        created = admin_call(server, "POST", "/v1/provider-credentials", workspace=workspace_id, json=body)
        assert created.status_code == 201, created.text
        credentials[body["provider"]] = created.json()["id"]
    return Tenant(server, workspace_id, key.json()["key"], key.json()["id"], credentials)
