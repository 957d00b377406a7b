"""What spend control costs a call: the same chat calls through one worker with nothing to
check, then with a key's rate limits (requests and tokens) and a blocking workspace budget (a
hold priced and reserved, then settled), in process and, with ``--redis-url``, in Redis.

Starts the upstream simulator in this process and ``tollgate serve`` (SQLite, one worker) per
mode; ``--connections`` clients send small non-streaming chat calls back to back for
``--seconds``. Reports calls/s, the server's CPU per call and latency p50/p95, and each mode's
ratios to the unchecked one from the same run.

    python bench/limits.py [--seconds 15] [--connections 8] [--redis-url redis://127.0.0.1:6379/0]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import aiohttp
from _common import Server, cpu_seconds, percentile, report, running_server, setup_tenant, table

from tollgate.testing import Simulator, SimulatorServer

BODY = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hello there"}], "max_tokens": 50}


@dataclass(frozen=True, slots=True)
class Result:
    mode: str
    calls: int
    seconds: float
    cpu_s: float
    latencies: list[float]


async def _drive(server: Server, key: str, seconds: float, connections: int) -> tuple[int, list[float]]:
    latencies: list[float] = []
    deadline = time.monotonic() + seconds
    headers = {"authorization": f"Bearer {key}"}

    async def client(session: aiohttp.ClientSession) -> None:
        while time.monotonic() < deadline:
            started = time.perf_counter()
            async with session.post(
                server.url + "/v1/chat/completions", json=BODY, headers=headers
            ) as answer:
                await answer.read()
                if answer.status != 200:
                    raise RuntimeError(f"call answered {answer.status}")
            latencies.append(time.perf_counter() - started)

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=connections)) as session:
        await asyncio.gather(*(client(session) for _ in range(connections)))
    return len(latencies), latencies


def run_mode(mode: str, env: dict[str, str], sim_root: str, args: argparse.Namespace) -> Result:
    with tempfile.TemporaryDirectory() as home, running_server(Path(home), f"limits-{mode}", env) as server:
        key = asyncio.run(setup_tenant(server, sim_root, checked=mode != "unchecked"))
        asyncio.run(_drive(server, key, 2.0, args.connections))  # warm up
        cpu0, wall0 = cpu_seconds([server.pid]), time.monotonic()
        calls, latencies = asyncio.run(_drive(server, key, args.seconds, args.connections))
        return Result(mode, calls, time.monotonic() - wall0, cpu_seconds([server.pid]) - cpu0, latencies)


def main(argv: Sequence[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--redis-url", default=None)
    args = parser.parse_args(argv)
    modes = [("unchecked", {}), ("limits+budget, memory", {})]
    if args.redis_url:
        modes.append(("limits+budget, Redis", {"TOLLGATE_REDIS_URL": args.redis_url}))
    results = []
    with SimulatorServer(Simulator()) as sim:
        for mode, env in modes:
            results.append(run_mode(mode, env, sim.root, args))
    base = results[0]
    rows = []
    for r in results:
        rate, cpu_ms = r.calls / r.seconds, 1000 * r.cpu_s / r.calls
        rows.append(
            [
                r.mode,
                f"{rate:,.0f}",
                f"{cpu_ms:.2f}",
                f"{1000 * percentile(r.latencies, 0.5):.1f}",
                f"{1000 * percentile(r.latencies, 0.95):.1f}",
                f"{rate / (base.calls / base.seconds):.2f}",
                f"{cpu_ms / (1000 * base.cpu_s / base.calls):.2f}",
            ]
        )
    headers = ["mode", "calls/s", "CPU ms/call", "p50 ms", "p95 ms", "rate ratio", "CPU ratio"]
    report(table(headers, rows), "limits")


if __name__ == "__main__":
    main(sys.argv[1:])
