"""Shared fixtures: the upstream simulator and a real tollgate server with a tenant."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.databases import BACKENDS, provision_database
from tests.support.gateway import GatewayServer, Tenant, make_tenant, running_gateway
from tollgate.testing import Simulator, SimulatorServer


@pytest.fixture(autouse=True)
def _no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any connection to a non-loopback address fails the test: nothing may reach the network."""
    real_connect = socket.socket.connect

    def guarded(self: socket.socket, address: object) -> object:
        host = address[0] if isinstance(address, tuple) else None
        if host is not None and not (str(host).startswith("127.") or host in ("::1", "localhost")):
            raise AssertionError(f"test tried to reach the network: {address!r}")
        return real_connect(self, address)  # type: ignore[arg-type]

    monkeypatch.setattr(socket.socket, "connect", guarded)


@pytest.fixture(scope="session")
def sim_server() -> Iterator[SimulatorServer]:
    with SimulatorServer(Simulator()) as server:
        yield server


@pytest.fixture
def sim(sim_server: SimulatorServer) -> Iterator[Simulator]:
    simulator = sim_server.sim
    simulator.reset()
    yield simulator
    simulator.reset()


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[GatewayServer]:
    with running_gateway(tmp_path / "home") as server:
        yield server


@pytest.fixture(params=BACKENDS)
def backend_tenant(
    request: pytest.FixtureRequest, tmp_path: Path, sim_server: SimulatorServer
) -> Iterator[Tenant]:
    """A tenant on a server over SQLite, then over PostgreSQL (skipped, with the reason, without one)."""
    database = asyncio.run(provision_database(request.param, tmp_path))
    try:
        with running_gateway(tmp_path / "home", database_url=database.url) as server:
            yield make_tenant(server, sim_server.root)
    finally:
        asyncio.run(database.cleanup())


@pytest.fixture
def tenant(gateway: GatewayServer, sim_server: SimulatorServer, sim: Simulator) -> Tenant:
    return make_tenant(gateway, sim_server.root)
