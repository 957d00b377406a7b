"""What the benchmarks share: weighted picks, deterministic ids, a real server in a subprocess,
percentiles and small result tables. Not a benchmark itself."""

from __future__ import annotations

import bisect
import hashlib
import math
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from random import Random
from typing import Any
from urllib.error import URLError
from urllib.request import urlopen

import aiohttp

from tollgate.cli.demo import simulator_credentials
from tollgate.testing import Simulator

OUT = Path(__file__).resolve().parent / "out"
_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"  # the Crockford base32 of tollgate.core.ids


class Picker:
    """Picks an index with probability proportional to its weight (one bisect per pick)."""

    def __init__(self, weights: Sequence[float]) -> None:
        total = 0.0
        cumulative = []
        for weight in weights:
            total += weight
            cumulative.append(total)
        self._cumulative = cumulative
        self._total = total

    def pick(self, rng: Random) -> int:
        return bisect.bisect_right(self._cumulative, rng.random() * self._total)


def zipf(n: int, s: float) -> list[float]:
    """Weights 1/rank^s for ranks 1..n: a few very popular items and a long tail."""
    return [1.0 / (rank**s) for rank in range(1, n + 1)]


def base32(value: int, length: int) -> str:
    out = []
    for _ in range(length):
        out.append(_ALPHABET[value & 31])
        value >>= 5
    return "".join(reversed(out))


def stable_bits(bits: int, *parts: object) -> int:
    """``bits`` bits that depend only on ``parts`` (the same on every run and machine)."""
    digest = hashlib.blake2b(":".join(map(str, parts)).encode(), digest_size=(bits + 7) // 8).digest()
    return int.from_bytes(digest, "big") >> (8 * len(digest) - bits)


def stable_id(prefix: str, *parts: object) -> str:
    """An id shaped like tollgate's (prefix + 26 base32 characters), derived from ``parts``."""
    return f"{prefix}_{base32(stable_bits(130, prefix, *parts), 26)}"


def bench_workspace_id(seed: int) -> str:
    """The workspace ``bench/fill.py --seed`` fills."""
    return stable_id("ws", "bench", seed)


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q`` quantile (0..1) by the nearest-rank method."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A plain text table: the first column left-aligned, the others right-aligned."""
    cells = [list(headers)] + [[str(cell) for cell in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]

    def line(row: Sequence[str]) -> str:
        parts = [row[0].ljust(widths[0])] + [
            cell.rjust(width) for cell, width in zip(row[1:], widths[1:], strict=True)
        ]
        return "  ".join(parts).rstrip()

    rule = "  ".join("-" * width for width in widths)
    return "\n".join([line(cells[0]), rule, *(line(row) for row in cells[1:])])


def report(text: str, name: str) -> None:
    """Write ``text`` to stdout and append it to ``bench/out/<name>.txt``."""
    OUT.mkdir(exist_ok=True)
    sys.stdout.write(text + "\n")
    sys.stdout.flush()
    with (OUT / f"{name}.txt").open("a") as file:
        file.write(text + "\n")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass(frozen=True, slots=True)
class Server:
    url: str
    admin_token: str
    pid: int


@contextmanager
def running_server(
    home: Path,
    log_name: str,
    env: Mapping[str, str] | None = None,
    args: Sequence[str] = (),
    cpus: set[int] | None = None,
) -> Iterator[Server]:
    """``tollgate serve`` in a subprocess with its home in ``home`` and a fresh admin token; its
    log goes to ``bench/out/<log_name>.log``. Stopped with SIGTERM (a graceful drain) on exit.
    ``args``: more ``serve`` flags (``--workers 2``); ``cpus``: the cores it may run on."""
    OUT.mkdir(exist_ok=True)
    home.mkdir(parents=True, exist_ok=True)
    port, token = free_port(), secrets.token_urlsafe(24)
    child_env = {
        **os.environ,
        "TOLLGATE_HOME": str(home),
        "TOLLGATE_ADMIN_TOKEN": token,
        "TOLLGATE_PORT": str(port),
        **(env or {}),
    }
    command = [sys.executable, "-m", "tollgate", "serve", "--port", str(port), "--home", str(home), *args]
    with (OUT / f"{log_name}.log").open("ab") as log:
        process = subprocess.Popen(
            command, env=child_env, stdout=log, stderr=subprocess.STDOUT, preexec_fn=pinned(cpus)
        )
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_healthy(url, process)
        yield Server(url, token, process.pid)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def pinned(cpus: set[int] | None) -> Callable[[], None] | None:
    """A ``preexec_fn`` that keeps a child process on ``cpus`` (None: anywhere)."""
    if cpus is None:
        return None
    chosen = set(cpus)
    return lambda: os.sched_setaffinity(0, chosen)


def process_tree(pid: int) -> list[int]:
    """``pid`` and its descendants (a server's worker processes)."""
    found, queue = [], [pid]
    while queue:
        current = queue.pop()
        found.append(current)
        try:
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except OSError:
            continue
        queue.extend(int(child) for child in children)
    return found


def cpu_seconds(pids: Sequence[int]) -> float:
    """User plus system CPU of the processes, from /proc."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def peak_rss_mb(pids: Sequence[int]) -> float:
    """The sum of the processes' peak resident memory (VmHWM), in MB."""
    total_kb = 0
    for pid in pids:
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("VmHWM:"):
                total_kb += int(line.split()[1])
    return total_kb / 1024


def _wait_healthy(url: str, process: subprocess.Popen[bytes], timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"tollgate serve exited with status {process.returncode}; see bench/out/")
        try:
            with urlopen(url + "/health", timeout=2) as answer:
                if answer.status == 200:
                    return
        except (URLError, OSError):
            pass
        time.sleep(0.2)
    raise RuntimeError(f"tollgate serve did not answer /health within {timeout:.0f} s")


PLENTY = 10**9  # limits that a benchmark never reaches (checked on every call all the same)


async def _admin(session: aiohttp.ClientSession, server: Server, method: str, path: str, **kw: Any) -> Any:
    headers = {"authorization": f"Bearer {server.admin_token}", **kw.pop("headers", {})}
    async with session.request(method, server.url + path, headers=headers, **kw) as answer:
        if answer.status >= 300:
            raise RuntimeError(f"{method} {path}: {answer.status} {await answer.text()}")
        return await answer.json()


async def setup_tenant(server: Server, sim_root: str, checked: bool) -> str:
    """A workspace and key with every simulated provider's credential; ``checked``: the key also
    has rate limits (requests and tokens) and the workspace a blocking budget, none of them ever
    reached. The raw key."""
    async with aiohttp.ClientSession() as session:
        ws = (await _admin(session, server, "POST", "/v1/workspaces", json={"name": "bench"}))["id"]
        scoped = {"x-tollgate-workspace": ws}
        key = await _admin(session, server, "POST", "/v1/keys", headers=scoped, json={"name": "bench"})
        for body in simulator_credentials(Simulator(), sim_root, "sk-bench-0000"):
            await _admin(session, server, "POST", "/v1/provider-credentials", headers=scoped, json=body)
        if checked:
            limits = {"requestsPerMinute": PLENTY, "requestsPerDay": PLENTY, "tokensPerMinute": PLENTY}
            await _admin(
                session, server, "PATCH", f"/v1/keys/{key['id']}", headers=scoped, json={"limits": limits}
            )
            budget = {"scope": {"type": "workspace"}, "period": "monthly", "limitUsd": "1000000"}
            await _admin(session, server, "POST", "/v1/budgets", headers=scoped, json=budget)
        raw: str = key["key"]
        return raw
