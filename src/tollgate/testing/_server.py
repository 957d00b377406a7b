"""Running the simulator on uvicorn: in a background thread, inside an event loop, or in the foreground.

The background and in-loop servers leave signal handling and logging configuration to the host
process: they must not steal Ctrl-C from the gateway they run beside, nor reconfigure its logging
(uvicorn's loggers are shared by every uvicorn server in the process, so ``log_level`` defaults to
None: leave them alone). Access logs are off.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Generator
from types import TracebackType

import uvicorn

from tollgate.testing._simulator import Simulator


class _GuestServer(uvicorn.Server):
    """A uvicorn server that never installs signal handlers (the host process owns them)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


def _config(sim: Simulator, host: str, port: int, log_level: str | None) -> uvicorn.Config:
    return uvicorn.Config(
        sim.app,
        host=host,
        port=port,
        lifespan="off",
        ws="none",
        log_config=None,
        log_level=log_level,
        access_log=False,
        timeout_graceful_shutdown=2,
    )


def _bound_port(server: uvicorn.Server) -> int:
    port: int = server.servers[0].sockets[0].getsockname()[1]
    return port


def _root(host: str, port: int) -> str:
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


async def _serve(server: uvicorn.Server) -> None:
    try:
        await server.serve()
    except SystemExit as exc:  # uvicorn exits the process when it cannot bind; here that is an error
        raise RuntimeError(f"the simulator could not start (exit status {exc.code})") from exc


class SimulatorServer:
    """Serves a simulator on uvicorn in a background thread; ready when ``__enter__`` returns.

    >>> with SimulatorServer(Simulator()) as server:  # doctest: +SKIP
    ...     openai.OpenAI(base_url=server.base_url("openai"), api_key="sk-test")
    """

    def __init__(
        self,
        sim: Simulator,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        log_level: str | None = None,
        startup_timeout: float = 10.0,
    ) -> None:
        self.sim = sim
        self.host = host
        self._server = _GuestServer(_config(sim, host, port, log_level))
        self._thread = threading.Thread(target=self._run, name="tollgate-simulator", daemon=True)
        self._startup_timeout = startup_timeout
        self._error: BaseException | None = None
        self.port = port

    def _run(self) -> None:
        try:
            asyncio.run(_serve(self._server))
        except BaseException as exc:  # reported to the thread that waits in __enter__
            self._error = exc

    @property
    def root(self) -> str:
        return _root(self.host, self.port)

    def base_url(self, provider: str) -> str:
        return self.sim.base_url(provider, self.root)

    def __enter__(self) -> SimulatorServer:
        self._thread.start()
        deadline = time.monotonic() + self._startup_timeout
        while not self._server.started:
            if not self._thread.is_alive():
                raise RuntimeError("the simulator server stopped during startup") from self._error
            if time.monotonic() > deadline:
                self._server.should_exit = True
                raise TimeoutError(f"the simulator server did not start within {self._startup_timeout}s")
            time.sleep(0.005)
        self.port = _bound_port(self._server)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)


class RunningSimulator:
    """A simulator serving inside the current event loop; ``await stop()`` shuts it down."""

    def __init__(self, server: uvicorn.Server, task: asyncio.Task[None], host: str, port: int) -> None:
        self._server = server
        self.task = task
        self.host = host
        self.port = port

    @property
    def root(self) -> str:
        return _root(self.host, self.port)

    async def stop(self) -> None:
        self._server.should_exit = True
        await self.task


async def serve_simulator(
    sim: Simulator, host: str = "127.0.0.1", port: int = 0, *, log_level: str | None = None
) -> RunningSimulator:
    """Start serving ``sim`` as a task of the running loop; returns once it accepts connections."""
    server = _GuestServer(_config(sim, host, port, log_level))
    task = asyncio.get_running_loop().create_task(_serve(server), name="tollgate-simulator")
    while not server.started:
        if task.done():
            task.result()  # raises why it stopped
            raise RuntimeError("the simulator server stopped during startup")
        await asyncio.sleep(0.005)
    return RunningSimulator(server, task, host, _bound_port(server))


def run_forever(host: str, port: int, *, sim: Simulator | None = None) -> None:
    """Serve a simulator in the foreground until interrupted (``tollgate mock-upstream``)."""
    sim = sim if sim is not None else Simulator()
    config = uvicorn.Config(sim.app, host=host, port=port, lifespan="off", ws="none", access_log=False)
    if port:  # with port 0 the URLs are known only once bound; uvicorn logs the root then
        # uvicorn's own logger: its configuration (made by Config above) shows these lines next to its own.
        announce = logging.getLogger("uvicorn.error")
        root = _root(host, port)
        for provider in sim.providers:
            announce.info("simulating %s at %s", provider, sim.base_url(provider, root))
    uvicorn.Server(config).run()
