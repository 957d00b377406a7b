"""Ingest throughput of one worker: seed 001 events through ``POST /api/ingest``.

Starts ``tollgate serve`` (SQLite in a fresh home folder, default settings: one worker), creates a
workspace and a key through the management API, then for each mode:

- *batched*: ``--connections`` clients each POST arrays of 1,000 seed-001 events back to back
  for ``--seconds``;
- *single*: the same clients POST one event per request.

Reports events/s accepted (201s only; anything else stops the run), the server process's CPU per
1,000 events, request latency p50/p95, and how long after the last 201 the last event reached the
database (polling ``/v1/usage`` totals, which the usage writer updates in the transaction that
stores the rows), with the end-to-end rate from the first send to all stored.

    python bench/ingest.py [--seconds 20] [--connections 4]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from random import Random
from typing import Any

import aiohttp
import orjson
from _common import Server, percentile, report, running_server, table

BATCH = 1000
BODIES = 16  # distinct request bodies, sent round-robin
MODELS = (
    ("openai", "gpt-4o-mini"),
    ("openai", "gpt-4.1-mini"),
    ("anthropic", "claude-haiku-4-5"),
    ("anthropic", "claude-sonnet-4-5"),
    ("gemini", "gemini-2.5-flash"),
    ("mistral", "mistral-small-latest"),
)
FEATURES = ("chat-completion", "summarize", "search", "support-reply", "classify", "extract")


def event(rng: Random) -> dict[str, Any]:
    """A seed 001 event (the documented fields only), with varied values."""
    provider, model = MODELS[rng.randrange(len(MODELS))]
    prompt, completion = rng.randrange(20, 4000), rng.randrange(1, 800)
    return {
        "provider": provider,
        "model": model,
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "cost": round(rng.uniform(0.00001, 0.01), 6),
        "latency_ms": rng.randrange(80, 6000),
        "status": "success" if rng.random() > 0.02 else "error",
        "metadata": {"feature": FEATURES[rng.randrange(len(FEATURES))]},
    }


def bodies(size: int, seed: int) -> list[bytes]:
    rng = Random(seed)
    if size == 1:
        return [orjson.dumps(event(rng)) for _ in range(BODIES * 64)]
    return [orjson.dumps([event(rng) for _ in range(size)]) for _ in range(BODIES)]


@dataclass(frozen=True, slots=True)
class Outcome:
    mode: str
    events: int
    seconds: float  # first send to last 201
    latencies_ms: list[float]
    cpu_seconds: float  # the server process's, from the first send to all stored
    drain_seconds: float  # last 201 to all events in the database


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux ``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def stored(session: aiohttp.ClientSession) -> int:
    async with session.get("/v1/usage") as answer:
        body = await answer.json()
    if answer.status != 200:
        raise RuntimeError(f"/v1/usage answered {answer.status}: {body}")
    return int(body["totals"]["requests"])


async def sender(
    session: aiohttp.ClientSession, payloads: list[bytes], offset: int, size: int, until: float
) -> tuple[int, list[float]]:
    sent, latencies, n = 0, [], offset
    while time.perf_counter() < until:
        started = time.perf_counter()
        async with session.post("/api/ingest", data=payloads[n % len(payloads)]) as answer:
            body = await answer.read()
        if answer.status != 201:
            raise RuntimeError(f"ingest answered {answer.status}: {body[:300]!r}")
        latencies.append((time.perf_counter() - started) * 1000)
        sent += size
        n += 1
    return sent, latencies


async def run_mode(
    server: Server, key: str, workspace: str, mode: str, size: int, seconds: float, connections: int
) -> Outcome:
    payloads = bodies(size, seed=size)
    admin = {"Authorization": f"Bearer {server.admin_token}", "x-tollgate-workspace": workspace}
    ingest_headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    async with (
        aiohttp.ClientSession(server.url, headers=admin) as reader,
        aiohttp.ClientSession(
            server.url, headers=ingest_headers, connector=aiohttp.TCPConnector(limit=connections)
        ) as writer,
    ):
        before = await stored(reader)
        cpu_before, started = cpu_seconds(server.pid), time.perf_counter()
        results = await asyncio.gather(
            *(sender(writer, payloads, n * 3, size, started + seconds) for n in range(connections))
        )
        done = time.perf_counter()
        events = sum(sent for sent, _ in results)
        while await stored(reader) < before + events:  # noqa: ASYNC110 -- polling the server over HTTP
            await asyncio.sleep(0.05)
        drained, cpu_after = time.perf_counter(), cpu_seconds(server.pid)
    latencies = [ms for _, values in results for ms in values]
    return Outcome(mode, events, done - started, latencies, cpu_after - cpu_before, drained - done)


async def setup(server: Server) -> tuple[str, str]:
    """A workspace and a gateway key (ingest scope), made through the management API."""
    admin = {"Authorization": f"Bearer {server.admin_token}"}
    async with aiohttp.ClientSession(server.url, headers=admin) as session:
        async with session.post("/v1/workspaces", json={"name": "ingest bench"}) as answer:
            workspace = (await answer.json())["id"]
        headers = {"x-tollgate-workspace": workspace}
        async with session.post("/v1/keys", json={"name": "ingest"}, headers=headers) as answer:
            key = (await answer.json())["key"]
    return workspace, key


def row(o: Outcome) -> list[str]:
    total = o.seconds + o.drain_seconds
    return [
        o.mode,
        f"{o.events:,}",
        f"{o.events / o.seconds:,.0f}",
        f"{o.cpu_seconds / o.events * 1000 * 1000:,.0f}",
        f"{percentile(o.latencies_ms, 0.5):.1f}",
        f"{percentile(o.latencies_ms, 0.95):.1f}",
        f"{o.drain_seconds:.2f}",
        f"{o.events / total:,.0f}",
    ]


async def main(args: argparse.Namespace) -> None:
    with (
        tempfile.TemporaryDirectory(prefix="tg-ingest-") as home,
        running_server(Path(home), "ingest.server") as server,
    ):
        workspace, key = await setup(server)
        batched = f"batch of {BATCH}"
        outcomes = [
            await run_mode(server, key, workspace, batched, BATCH, args.seconds, args.connections),
            await run_mode(server, key, workspace, "single event", 1, args.seconds, args.connections),
        ]
    headers = [
        "mode",
        "events",
        "accepted/s",
        "server CPU ms/1k",
        "req p50 ms",
        "req p95 ms",
        "drain s",
        "end-to-end/s",
    ]
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    title = (
        f"ingest, SQLite, one worker, {args.connections} connections, {args.seconds:.0f} s per mode ({stamp})"
    )
    report(title + "\n" + table(headers, [row(o) for o in outcomes]) + "\n", "ingest")


def parse(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="sending time per mode")
    parser.add_argument("--connections", type=int, default=4)
    return parser.parse_args(argv)


if __name__ == "__main__":
    asyncio.run(main(parse(sys.argv[1:])))
