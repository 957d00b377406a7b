"""``tollgate serve`` as a real child process, started the way an operator starts it."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from signal import SIGKILL
from typing import IO, Any

import httpx2

from tests.support.gateway import ADMIN_TOKEN

START_DEADLINE = 60.0
# ``tollgate serve`` with this interpreter (no reliance on PATH).
SERVE = [sys.executable, "-m", "tollgate", "serve"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


class ServerProcess:
    """``tollgate serve`` in a child process on a free loopback port, logging to a file."""

    def __init__(self, home: Path, log_path: Path, **settings: Any) -> None:
        self.home = home
        self.log_path = log_path
        self.settings = settings
        self.port = 0
        self.url = ""
        self.proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("TOLLGATE_")}
        env["TOLLGATE_HOME"] = str(self.home)
        env["TOLLGATE_ADMIN_TOKEN"] = ADMIN_TOKEN
        for name, value in self.settings.items():
            env["TOLLGATE_" + name.upper()] = str(value)
        return env

    def start(self) -> ServerProcess:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [*SERVE, "--port", str(self.port)],
            env=self.env(),
            cwd=self.home.parent,
            stdout=self._log,
            stderr=self._log,
            start_new_session=True,  # its own process group: kill() takes the workers down too
        )
        deadline = time.monotonic() + START_DEADLINE
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"tollgate serve exited {self.proc.returncode}:\n{self.log_text()}")
            try:
                if httpx2.get(self.url + "/health", timeout=2).status_code == 200:
                    return self
            except httpx2.TransportError:
                pass
            if time.monotonic() > deadline:
                self.kill()
                raise RuntimeError(f"tollgate serve did not answer /health:\n{self.log_text()}")
            time.sleep(0.1)

    def signal(self, signum: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(signum)

    def wait(self, timeout: float = 60.0) -> int:
        assert self.proc is not None
        code = self.proc.wait(timeout=timeout)
        if self._log is not None:
            self._log.close()
            self._log = None
        return code

    def kill(self) -> None:
        """SIGKILL to the server's whole process group: with ``--workers`` a kill of the parent
        alone left its worker processes running, orphaned, after the test."""
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, SIGKILL)
        self.wait()

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.kill()
