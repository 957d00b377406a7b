"""The load generator for ``bench/speed.py``: one process (pinned to its own core by the
caller), asyncio on uvloop with aiohttp. Prints one JSON object with what it saw.

    python bench/speed_load.py SPEC_JSON

SPEC: ``url``, ``headers``, ``body`` (a JSON value sent as is), ``stream`` (read the answer as
server-sent events), ``seconds``, and either ``connections`` (closed loop: each connection sends
its next request when the last answer ended; saturation) or ``rate`` (open loop: request ``i``
starts at ``i / rate`` seconds whatever came before; latency counts from that planned start, so a
slow server cannot hide its queue).
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import uvloop
from _common import percentile


@dataclass
class Seen:
    latencies: list[float] = field(default_factory=list)
    first_chunks: list[float] = field(default_factory=list)
    gaps: list[float] = field(default_factory=list)
    errors: int = 0
    statuses: dict[str, int] = field(default_factory=dict)


async def _one(
    session: aiohttp.ClientSession, spec: dict[str, Any], payload: bytes, seen: Seen, start: float
) -> None:
    try:
        async with session.post(spec["url"], data=payload, headers=spec["headers"]) as answer:
            if spec["stream"] and answer.status == 200:
                last = None
                async for _chunk in answer.content.iter_any():
                    now = time.perf_counter()
                    if last is None:
                        seen.first_chunks.append(now - start)
                    else:
                        seen.gaps.append(now - last)
                    last = now
            else:
                await answer.read()
            key = str(answer.status)
            seen.statuses[key] = seen.statuses.get(key, 0) + 1
            if answer.status != 200:
                seen.errors += 1
                return
    except (aiohttp.ClientError, OSError):
        seen.errors += 1
        return
    seen.latencies.append(time.perf_counter() - start)


async def _closed(spec: dict[str, Any], payload: bytes, seen: Seen) -> None:
    deadline = time.perf_counter() + spec["seconds"]
    connector = aiohttp.TCPConnector(limit=spec["connections"])
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=60)) as session:

        async def client() -> None:
            while time.perf_counter() < deadline:
                await _one(session, spec, payload, seen, time.perf_counter())

        await asyncio.gather(*(client() for _ in range(spec["connections"])))


async def _open(spec: dict[str, Any], payload: bytes, seen: Seen) -> None:
    rate, seconds = spec["rate"], spec["seconds"]
    connector = aiohttp.TCPConnector(limit=0)
    tasks = set()
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=60)) as session:
        begin = time.perf_counter()
        for i in range(int(rate * seconds)):
            planned = begin + i / rate
            delay = planned - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            task = asyncio.create_task(_one(session, spec, payload, seen, planned))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        await asyncio.gather(*tasks)


def main(argv: list[str]) -> None:
    spec = json.loads(argv[0])
    payload = json.dumps(spec["body"]).encode()
    seen = Seen()
    began, cpu0 = time.perf_counter(), time.process_time()
    runner = _open if spec.get("rate") else _closed
    uvloop.run(runner(spec, payload, seen))
    usage = resource.getrusage(resource.RUSAGE_SELF)
    latencies = seen.latencies or [0.0]
    out = {
        "seconds": time.perf_counter() - began,
        "ok": len(seen.latencies),
        "errors": seen.errors,
        "statuses": seen.statuses,
        "p50_ms": 1000 * percentile(latencies, 0.5),
        "p90_ms": 1000 * percentile(latencies, 0.9),
        "p99_ms": 1000 * percentile(latencies, 0.99),
        "ttfb_p50_ms": 1000 * percentile(seen.first_chunks, 0.5) if seen.first_chunks else None,
        "ttfb_p99_ms": 1000 * percentile(seen.first_chunks, 0.99) if seen.first_chunks else None,
        "gap_p50_ms": 1000 * percentile(seen.gaps, 0.5) if seen.gaps else None,
        "cpu_s": time.process_time() - cpu0,
        "rss_kb": usage.ru_maxrss,
    }
    os.set_blocking(sys.stdout.fileno(), True)  # the event loop may have left it non-blocking
    sys.stdout.write(json.dumps(out))


if __name__ == "__main__":
    main(sys.argv[1:])
