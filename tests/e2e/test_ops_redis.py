"""Redis as an operator deploys it: readiness follows it, and it carries changes between instances.

Needs a Redis server in ``TOLLGATE_TEST_REDIS_URL`` (e.g. ``redis://127.0.0.1:6379/0``); without it
these tests are skipped, with the reason shown. To take Redis away from one gateway without
touching the shared server, that gateway reaches Redis through a TCP relay the test can shut.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest
from sqlalchemy.engine import make_url

from tests.support.databases import BACKENDS, provision_database
from tests.support.gateway import GatewayServer, Tenant, admin_call, make_tenant, running_gateway
from tests.support.process import ServerProcess, free_port
from tollgate.services.sealing import new_master_key
from tollgate.testing import Simulator, SimulatorServer

REDIS_ENV = "TOLLGATE_TEST_REDIS_URL"
CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hello there"}]}


@pytest.fixture
def redis_url() -> str:
    url = os.environ.get(REDIS_ENV, "").strip()
    if not url:
        pytest.skip(f"Redis tests skipped: set {REDIS_ENV} (e.g. redis://127.0.0.1:6379/0) to run them")
    return url


class Relay:
    """A TCP relay on a loopback port to a real server; ``cut()`` makes the target unreachable."""

    def __init__(self, host: str, port: int) -> None:
        self._target = (host, port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self._target)
            with self._lock:
                self._sockets += [client, upstream]
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                sink.sendall(data)
        for sock in (source, sink):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        """Refuse new connections and break the open ones (shutdown wakes the blocked accept)."""
        for sock in [self._listener, *self._sockets]:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()


@pytest.fixture
def relay(redis_url: str) -> Iterator[Relay]:
    url = make_url(redis_url)
    relay = Relay(url.host or "127.0.0.1", url.port or 6379)
    yield relay
    relay.cut()


def relayed_url(redis_url: str, relay: Relay) -> str:
    db = make_url(redis_url).database or "0"
    return f"redis://127.0.0.1:{relay.port}/{db}"


def test_ready_reports_redis_and_turns_503_when_redis_goes_away(
    tmp_path: Path, redis_url: str, relay: Relay
) -> None:
    with running_gateway(tmp_path / "home", redis_url=relayed_url(redis_url, relay)) as server:
        ready = httpx2.get(server.url + "/ready", timeout=30)
        assert ready.status_code == 200, ready.text
        assert ready.json()["checks"]["redis"] == {"status": "ok"}

        relay.cut()
        ready = httpx2.get(server.url + "/ready", timeout=30)
        assert ready.status_code == 503
        body = ready.json()
        assert body["status"] == "not_ready"
        assert body["checks"]["redis"]["status"] == "error"
        assert body["checks"]["database"]["status"] == "ok", "only the broken dependency is blamed"
        # Liveness is not readiness: the process itself is fine.
        assert httpx2.get(server.url + "/health", timeout=30).status_code == 200


@pytest.fixture
def redis_tenant(
    tmp_path: Path, redis_url: str, relay: Relay, sim_server: SimulatorServer
) -> Iterator[Tenant]:
    with running_gateway(tmp_path / "home", redis_url=relayed_url(redis_url, relay)) as server:
        yield make_tenant(server, sim_server.root)


def test_a_call_while_redis_is_down_gets_a_json_error_with_its_request_id(
    redis_tenant: Tenant, relay: Relay, sim: Simulator, caplog: pytest.LogCaptureFixture
) -> None:
    assert (
        httpx2.post(
            redis_tenant.url + "/v1/chat/completions", json=CHAT, headers=redis_tenant.headers()
        ).status_code
        == 200
    )
    relay.cut()
    with caplog.at_level(logging.ERROR, logger="tollgate.access"):
        response = httpx2.post(
            redis_tenant.url + "/v1/chat/completions", json=CHAT, headers=redis_tenant.headers(), timeout=30
        )
        assert response.status_code == 503
        assert response.headers["content-type"].startswith("application/json")
        assert response.json()["error"]["code"] == "state_unavailable"
        request_id = response.headers["x-tollgate-request-id"]
        # The operator finds the failure, with its cause, by the id the client got (the line is
        # written as the request ends, which may be just after the client has its answer).
        deadline = time.monotonic() + 10
        while not (logged := [r for r in caplog.records if getattr(r, "request_id", None) == request_id]):
            assert time.monotonic() < deadline, "no log line names the failed request"
            time.sleep(0.05)
    assert logged[0].levelno == logging.ERROR and logged[0].status == 503  # type: ignore[attr-defined]
    assert sim.received and len(sim.received) == 1, "nothing went upstream without a fresh key check"


def test_a_call_while_redis_is_down_is_a_503_in_the_door_format(
    redis_tenant: Tenant, relay: Relay, sim: Simulator
) -> None:
    relay.cut()
    response = httpx2.post(
        redis_tenant.url + "/v1/chat/completions", json=CHAT, headers=redis_tenant.headers(), timeout=30
    )
    assert response.status_code == 503
    error = response.json()["error"]
    assert error["type"] == "api_error" and error["code"] == "state_unavailable"
    assert sim.received == []


def test_a_server_whose_redis_is_unreachable_at_start_exits_with_a_clear_log(tmp_path: Path) -> None:
    password = "redis-password-9f8e7d6c5b4a"
    server = ServerProcess(
        tmp_path / "home", tmp_path / "server.log", redis_url=f"redis://:{password}@127.0.0.1:{free_port()}/0"
    )
    with pytest.raises(RuntimeError, match="exited"):
        server.start()
    assert server.proc is not None and server.proc.returncode not in (0, None)
    text = server.log_text()
    assert "Error 111 connecting to 127.0.0.1" in text or "Connection refused" in text
    assert password not in text, "the Redis password appears in the log"


@pytest.fixture(params=BACKENDS)
def shared_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    db = asyncio.run(provision_database(request.param, tmp_path))
    try:
        yield db.url
    finally:
        asyncio.run(db.cleanup())


def call(server: GatewayServer, key: str) -> httpx2.Response:
    return httpx2.post(
        server.url + "/v1/chat/completions", json=CHAT, headers={"authorization": f"Bearer {key}"}, timeout=30
    )


def test_a_key_revoked_through_one_instance_is_refused_by_another_at_once(
    tmp_path: Path, redis_url: str, shared_database: str, sim_server: SimulatorServer, sim: Simulator
) -> None:
    """Two instances: own homes, one database, one Redis, one master key (as two hosts would be)."""
    shared = {"database_url": shared_database, "redis_url": redis_url, "master_key": new_master_key()}
    with (
        running_gateway(tmp_path / "a", **shared) as first,
        running_gateway(tmp_path / "b", **shared) as second,
    ):
        tenant = make_tenant(first, sim_server.root)
        assert call(second, tenant.key).status_code == 200, "a key created on one instance works on the other"
        revoked = admin_call(first, "DELETE", f"/v1/keys/{tenant.key_id}", workspace=tenant.workspace_id)
        assert revoked.status_code == 200, revoked.text
        refused = call(second, tenant.key)
        assert refused.status_code == 401
        assert refused.json()["error"]["code"] == "revoked_api_key"
        assert call(first, tenant.key).status_code == 401
        assert len(sim.received) == 1, "the refused calls never reached the provider"


def test_sigterm_while_redis_is_configured_still_exits_cleanly(
    tmp_path: Path, redis_url: str, sim_server: SimulatorServer, sim: Simulator
) -> None:
    with ServerProcess(tmp_path / "home", tmp_path / "server.log", redis_url=redis_url) as server:
        tenant = make_tenant(server, sim_server.root)  # type: ignore[arg-type]
        ready = httpx2.get(server.url + "/ready", timeout=30).json()
        assert ready["checks"]["redis"] == {"status": "ok"}
        assert call(server, tenant.key).status_code == 200  # type: ignore[arg-type]
        server.signal(signal.SIGTERM)
        assert server.wait() == 0, server.log_text()


def test_a_change_is_refused_before_it_is_written_while_redis_is_down(
    redis_tenant: Tenant, relay: Relay
) -> None:
    relay.cut()
    refused = redis_tenant.admin("DELETE", f"/v1/keys/{redis_tenant.key_id}")
    assert refused.status_code == 503 and refused.json()["error"]["code"] == "state_unavailable"
    stored = redis_tenant.server.run(
        redis_tenant.server.ctx.store.keys.get(redis_tenant.workspace_id, redis_tenant.key_id)
    )
    assert stored is not None and stored.status == "active", "nothing was written"
