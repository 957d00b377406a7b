"""A real webhook receiver for tests: aiohttp on a loopback port, in its own thread and loop.

Each path answers from a script, one answer per request, then ``200`` once the script runs out:
``"200"``/``"500"``/… answer with that status, ``"302"`` redirects (to a port nothing listens on),
``"slow"`` waits ``slow_s`` before answering 200 (longer than the sender's timeout). Every request
is kept with its raw body and signature header, so a test checks them with the receiver's own
helper, ``tollgate.webhooks.verify``.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web

from tests.support.gateway import GatewayServer, Tenant, running_gateway
from tollgate.webhooks import SIGNATURE_HEADER


@dataclass(frozen=True)
class Hit:
    path: str
    body: bytes
    signature: str | None
    answer: str
    received_at: float  # unix seconds


class ScriptedReceiver:
    def __init__(self, slow_s: float = 3.0) -> None:
        self.slow_s = slow_s
        self.port = 0
        self._scripts: dict[str, deque[str]] = {}
        self._hits: list[Hit] = []
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._runner: web.AppRunner | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    def script(self, path: str, *answers: str) -> str:
        """Set how ``path`` answers; its URL."""
        with self._lock:
            self._scripts[path] = deque(answers)
        return self.url(path)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def hits(self, path: str | None = None) -> list[Hit]:
        with self._lock:
            return [h for h in self._hits if path is None or h.path == path]

    def wait_for(self, path: str, count: int, timeout_s: float = 10.0, quiet_s: float = 0.3) -> list[Hit]:
        """The hits on ``path`` once there are ``count`` (or ``timeout_s`` passed), and ``quiet_s``
        later, so that a test also sees any that should not have come."""
        deadline = time.monotonic() + timeout_s
        while len(self.hits(path)) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(quiet_s)
        return self.hits(path)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        with self._lock:
            script = self._scripts.get(request.path)
            answer = script.popleft() if script else "200"
            self._hits.append(
                Hit(request.path, body, request.headers.get(SIGNATURE_HEADER), answer, time.time())
            )
        if answer == "302":
            raise web.HTTPFound("http://127.0.0.1:1/elsewhere")
        if answer == "slow":
            await asyncio.sleep(self.slow_s)
            return web.Response(status=200)
        return web.Response(status=int(answer), text="ok" if answer.startswith("2") else "no")

    async def _start(self) -> None:
        app = web.Application()
        app.router.add_route("POST", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]

    async def _stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def start(self) -> ScriptedReceiver:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(timeout=10)
        return self

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()


def subscribe(tenant: Tenant, url: str, events: list[str]) -> str:
    """Register a webhook endpoint for the tenant; its signing secret."""
    endpoint = tenant.admin("POST", "/v1/webhook-endpoints", json={"url": url, "enabledEvents": events})
    assert endpoint.status_code == 201, endpoint.text
    secret: str = endpoint.json()["secret"]
    return secret


def events_gateway(home: Path, **settings: Any) -> AbstractContextManager[GatewayServer]:
    """A server that delivers webhooks to loopback receivers and retries quickly."""
    return running_gateway(home, allow_private_webhooks=True, webhook_retry_base_seconds=0.2, **settings)


@contextmanager
def scripted_receiver(slow_s: float = 3.0) -> Iterator[ScriptedReceiver]:
    receiver = ScriptedReceiver(slow_s).start()
    try:
        yield receiver
    finally:
        receiver.stop()
