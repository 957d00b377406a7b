"""Running the server: one process, several workers, or the demo with its simulator."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import sys
from collections.abc import Generator, Mapping
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI

from tollgate.app import create_app
from tollgate.core.logging import configure_logging
from tollgate.core.settings import ENV_PREFIX, Settings, load_settings
from tollgate.routes.wiring import AppContext


class _Server(uvicorn.Server):
    """uvicorn, except that a SIGTERM/SIGINT it handled gracefully ends the process with status 0.

    uvicorn re-raises the captured signal after its graceful shutdown, so the process would
    report death by signal although in-flight calls finished and the journal was flushed.
    Supervisors (systemd, Kubernetes) read that as a failure.
    """

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        with super().capture_signals():
            yield
            self._captured_signals.clear()


def app_from_env() -> FastAPI:
    """The factory each worker process calls when ``--workers`` > 1 (settings come via env)."""
    settings = load_settings(env=os.environ)
    configure_logging(settings.log_level)
    return create_app(settings)


def _uvicorn_options(settings: Settings) -> dict[str, Any]:
    return {
        "host": settings.host,
        "port": settings.port,
        "loop": "uvloop",
        "http": "httptools",
        "log_config": None,
        "access_log": False,
        "timeout_graceful_shutdown": int(settings.shutdown_grace),
    }


def _uvicorn_config(app: Any, settings: Settings) -> uvicorn.Config:
    return uvicorn.Config(app, **_uvicorn_options(settings))


def _free_port(host: str) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


async def _serve_demo(settings: Settings) -> None:
    # The simulator only for the demo: a real server does not carry its ~4 MB.
    from tollgate.cli.demo import demo_instructions, prepare_demo
    from tollgate.testing import Simulator, serve_simulator

    simulator = Simulator()
    sim_port = _free_port(settings.host)
    sim_handle = await serve_simulator(simulator, settings.host, sim_port)
    app = create_app(settings)
    server = _Server(_uvicorn_config(app, settings))
    task = asyncio.create_task(server.serve())
    while not server.started and not task.done():  # noqa: ASYNC110 -- uvicorn exposes only a flag
        await asyncio.sleep(0.05)
    if server.started:
        ctx: AppContext = app.state.ctx
        demo = await prepare_demo(ctx, simulator, f"http://{settings.host}:{sim_port}")
        sys.stdout.write(demo_instructions(f"http://{settings.host}:{settings.port}", demo))
        sys.stdout.flush()
    try:
        await task
    finally:
        await sim_handle.stop()


def _export(settings_flags: Mapping[str, Any]) -> None:
    for name, value in settings_flags.items():
        if value is not None:
            os.environ[ENV_PREFIX + name.upper()] = str(value)


def serve(flags: Mapping[str, Any]) -> None:
    settings = load_settings(flags, os.environ, _toml_path())
    configure_logging(settings.log_level)
    if settings.demo:
        if settings.workers > 1:
            raise SystemExit("--demo runs with one worker")
        asyncio.run(_serve_demo(settings))
        return
    if settings.workers > 1:
        _export(flags)
        uvicorn.run(
            "tollgate.cli.serve:app_from_env",
            factory=True,
            workers=settings.workers,
            **_uvicorn_options(settings),
        )
        return
    _Server(_uvicorn_config(create_app(settings), settings)).run()


def _toml_path() -> Path:
    return Path(os.environ.get(ENV_PREFIX + "CONFIG", "tollgate.toml"))
