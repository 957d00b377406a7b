"""Fixtures: a simulator served on loopback per module, reset for every test; no test reaches the network."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterator
from typing import Any

import pytest

from tollgate.testing import Scenario, Simulator, SimulatorServer

_real_connect = socket.socket.connect


def _loopback_only(self: socket.socket, address: Any) -> None:
    host = address[0] if isinstance(address, tuple) else None
    if host is not None:
        try:
            loopback = ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = host == "localhost"
        if not loopback:
            raise OSError(f"tests must not reach the network (tried {address!r})")
    _real_connect(self, address)


@pytest.fixture(autouse=True)
def _no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(socket.socket, "connect", _loopback_only)


@pytest.fixture(scope="module")
def served() -> Iterator[SimulatorServer]:
    with SimulatorServer(Simulator()) as server:
        yield server


@pytest.fixture
def server(served: SimulatorServer) -> SimulatorServer:
    served.sim.reset()
    served.sim.defaults = Scenario()
    return served


@pytest.fixture
def sim(server: SimulatorServer) -> Simulator:
    return server.sim
