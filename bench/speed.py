"""Speed: tollgate beside direct calls to the same upstream, on loopback, bounded in time.

For each target (the simulator called directly, a bare relay that only forwards (the floor of
two HTTP hops in Python, ``speed_relay.py``), tollgate with one worker, tollgate with
``--workers``) and each scenario (small chat, a stream of 50 chunks, a 100 KB request body,
embeddings) it measures saturation (``--connections`` closed-loop clients), then small chat at
fixed rates, then, against a realistic upstream (200 ms to first byte, 20 ms between chunks),
streams at a fixed rate and 500 streams at once. tollgate runs its real pipeline: key auth, rate
limits and a blocking budget (never reached, checked on every call), cost, the usage journal.

Each server is pinned to core 0 and the load generator (``speed_load.py``, its own process) to
core 1; the generator's CPU is reported so it can be seen not to be the bottleneck. The fast
simulator shares core 0 with the server in front of it (direct, it has the core to itself). The
realistic one stands for a provider across the network: it runs beside the generator on core 1,
so that what tollgate adds to latency is not the two of them queueing for one core (at 100
streams a second the simulator alone takes a third of a core). Results go to
``bench/RESULTS.md`` (Markdown) and ``bench/out/speed.json``.

    python -m bench [--seconds 5] [--connections 32] [--workers 2] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.error import HTTPError, URLError
from urllib.request import urlopen

from _common import (
    OUT,
    cpu_seconds,
    free_port,
    peak_rss_mb,
    pinned,
    process_tree,
    running_server,
    setup_tenant,
)
from speed_peer import litellm

HERE = Path(__file__).resolve().parent
SERVER_CPUS = {0}
LOAD_CPUS = {1}
CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Say hello to the benchmark."}]}
BIG = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "lorem ipsum " * 8_500}]}  # ~100 KB
EMBED = {"model": "text-embedding-3-small", "input": "The quick brown fox jumps over the lazy dog."}
SCENARIOS: dict[str, tuple[str, dict[str, Any], bool]] = {
    "chat": ("chat/completions", CHAT, False),
    "stream": ("chat/completions", {**CHAT, "stream": True}, True),
    "body 100 KB": ("chat/completions", BIG, False),
    "embeddings": ("embeddings", EMBED, False),
}


@dataclass(frozen=True, slots=True)
class Target:
    name: str
    base: str  # the OpenAI-style base URL, up to and including /v1
    key: str
    pids: list[int]  # the server processes whose CPU and memory count
    metrics: str | None = None  # tollgate's /metrics: its journal must drain before CPU is read


@dataclass(frozen=True, slots=True)
class Run:
    target: str
    scenario: str
    load: str  # "saturation" or "<n>/s"
    upstream: str  # fast or realistic
    ok: int
    errors: int
    seconds: float
    server_cpu_s: float
    load_cpu_s: float
    rss_mb: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    ttfb_p50_ms: float | None
    ttfb_p99_ms: float | None
    gap_p50_ms: float | None

    @property
    def rate(self) -> float:
        return self.ok / self.seconds

    @property
    def cpu_ms(self) -> float:
        return 1000 * self.server_cpu_s / max(1, self.ok)


@contextmanager
def simulator(mode: str, cpus: set[int]) -> Iterator[tuple[str, int]]:
    port = free_port()
    command = [sys.executable, str(HERE / "speed_sim.py"), str(port), mode]
    process = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, preexec_fn=pinned(cpus)
    )
    root = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urlopen(root + "/openai/v1/models", timeout=2):
                    break
            except HTTPError:
                break  # it answers (401 without a key): it is up
            except (URLError, OSError):
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError("the simulator did not start") from None
                time.sleep(0.1)
        yield root, process.pid
    finally:
        process.terminate()
        process.wait(timeout=10)


def drive(target: Target, scenario: str, spec: dict[str, Any], upstream: str) -> Run:
    path, body, stream = SCENARIOS[scenario]
    full = {
        "url": f"{target.base}/{path}",
        "headers": {"authorization": f"Bearer {target.key}", "content-type": "application/json"},
        "body": body,
        "stream": stream,
        **spec,
    }
    cpu0 = cpu_seconds(target.pids)
    done = subprocess.run(
        [sys.executable, str(HERE / "speed_load.py"), json.dumps(full)],
        capture_output=True,
        check=True,
        preexec_fn=pinned(LOAD_CPUS),
    )
    if target.metrics is not None:
        drain(target.metrics)  # the usage writer's share of the work belongs to this run
    server_cpu = cpu_seconds(target.pids) - cpu0
    seen = json.loads(done.stdout)
    load = f"{spec['rate']}/s" if spec.get("rate") else f"saturation ({spec['connections']})"
    return Run(
        target=target.name,
        scenario=scenario,
        load=load,
        upstream=upstream,
        ok=seen["ok"],
        errors=seen["errors"],
        seconds=seen["seconds"],
        server_cpu_s=server_cpu,
        load_cpu_s=seen["cpu_s"],
        rss_mb=peak_rss_mb(target.pids),
        p50_ms=seen["p50_ms"],
        p90_ms=seen["p90_ms"],
        p99_ms=seen["p99_ms"],
        ttfb_p50_ms=seen["ttfb_p50_ms"],
        ttfb_p99_ms=seen["ttfb_p99_ms"],
        gap_p50_ms=seen["gap_p50_ms"],
    )


def drain(metrics_url: str, timeout_s: float = 120.0) -> None:
    """Wait until tollgate's usage journal is empty (every record of the run is in the database)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with urlopen(metrics_url, timeout=5) as answer:
            text = answer.read().decode()
        lag = [line for line in text.splitlines() if line.startswith("tollgate_journal_lag_records ")]
        if lag and float(lag[0].split()[1]) == 0:
            return
        time.sleep(0.05)
    raise RuntimeError("tollgate's usage journal did not drain")


@contextmanager
def bare_relay(sim_root: str) -> Iterator[Target]:
    """``speed_relay.py``: the two HTTP hops every Python gateway makes, and nothing else."""
    port = free_port()
    command = [sys.executable, str(HERE / "speed_relay.py"), str(port), sim_root]
    process = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, preexec_fn=pinned(SERVER_CPUS)
    )
    try:
        _wait_listening(port, process)
        yield Target("bare relay", f"http://127.0.0.1:{port}/v1", "sk-bench-0000", [process.pid])
    finally:
        process.terminate()
        process.wait(timeout=10)


def _wait_listening(port: int, process: subprocess.Popen[bytes], timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        if time.monotonic() > deadline or process.poll() is not None:
            raise RuntimeError("the bare relay did not start")
        time.sleep(0.1)


@contextmanager
def tollgate(sim_root: str, workers: int) -> Iterator[Target]:
    with tempfile.TemporaryDirectory() as home:
        args = ["--workers", str(workers)] if workers > 1 else []
        cpus = None if workers > 1 else SERVER_CPUS
        with running_server(Path(home), f"speed-{workers}w", args=args, cpus=cpus) as server:
            key = asyncio.run(setup_tenant(server, sim_root, checked=True))
            pids = process_tree(server.pid)
            yield Target(f"tollgate {workers}w", server.url + "/v1", key, pids, server.url + "/metrics")


def suite(target: Target, args: argparse.Namespace, upstream: str) -> list[Run]:
    """Saturation for every scenario, then small chat at each fixed rate the target can serve (a
    rate past its saturation would only measure a queue growing)."""
    runs = []
    warm = {"connections": 4, "seconds": 1.0}
    for scenario in SCENARIOS:
        drive(target, scenario, warm, upstream)
        saturation = {"connections": args.connections, "seconds": args.seconds}
        runs.append(drive(target, scenario, saturation, upstream))
    ceiling = runs[0].rate
    for rate in args.rates:
        if rate <= ceiling:
            runs.append(drive(target, "chat", {"rate": rate, "seconds": args.seconds}, upstream))
    return runs


def realistic(target: Target, args: argparse.Namespace) -> list[Run]:
    # Warm the connections and code paths first, as ``suite`` does: a cold start's first
    # requests landed in the direct run's p99.
    drive(target, "chat", {"rate": 200, "seconds": 1.0}, "realistic")
    drive(target, "stream", {"rate": 100, "seconds": 1.0}, "realistic")
    return [
        drive(target, "chat", {"rate": 200, "seconds": args.seconds}, "realistic"),
        drive(target, "stream", {"rate": 100, "seconds": args.seconds}, "realistic"),
        drive(target, "stream", {"connections": 500, "seconds": args.seconds}, "realistic"),
    ]


def main(argv: Sequence[str]) -> None:
    parser = argparse.ArgumentParser(description="tollgate beside direct calls: throughput, latency, CPU")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rates", type=int, nargs="*", default=[100, 500, 1000])
    parser.add_argument("--quick", action="store_true", help="1 s per measurement (a smoke run)")
    parser.add_argument("--peer", choices=["litellm"], help="also measure LiteLLM proxy (installs it once)")
    args = parser.parse_args(argv)
    if args.quick:
        args.seconds = 1.0
    if len(os.sched_getaffinity(0)) < 2:
        raise SystemExit("the benchmark needs two cores: one for the servers, one for the load")
    started = time.monotonic()
    runs: list[Run] = []
    with simulator("fast", SERVER_CPUS) as (root, sim_pid):
        direct = Target("direct", root + "/openai/v1", "sk-bench-0000", [sim_pid])
        runs += suite(direct, args, "fast")
        with bare_relay(root) as relay:
            runs += suite(relay, args, "fast")
        for workers in sorted({1, args.workers}):
            with tollgate(root, workers) as target:
                runs += suite(target, args, "fast")
        if args.peer == "litellm":
            with litellm(root, SERVER_CPUS) as (base, key, pids):
                runs += suite(Target("litellm", base, key, pids), args, "fast")
    with simulator("realistic", LOAD_CPUS) as (root, sim_pid):
        runs += realistic(Target("direct", root + "/openai/v1", "sk-bench-0000", [sim_pid]), args)
        with tollgate(root, 1) as target:
            runs += realistic(target, args)
    write(runs, time.monotonic() - started)


def _find(runs: Sequence[Run], target: str, scenario: str, load: str, upstream: str) -> Run | None:
    return next(
        (r for r in runs if (r.target, r.scenario, r.load, r.upstream) == (target, scenario, load, upstream)),
        None,
    )


def _ms(value: float | None) -> str:
    return "" if value is None else f"{value:.1f}"


def write(runs: Sequence[Run], elapsed: float) -> None:
    OUT.mkdir(exist_ok=True)
    (OUT / "speed.json").write_text(json.dumps([_row(r) for r in runs], indent=1))
    lines = [
        "# Speed: tollgate beside direct calls",
        "",
        f"`python -m bench`, one run, {time.strftime('%Y-%m-%d')}: {platform.machine()}, "
        f"{os.cpu_count()} cores, Python {platform.python_version()}, took {elapsed:.0f} s. "
        "Servers on core 0, the load generator on core 1 (the realistic simulator with it, as a "
        "remote provider would be). tollgate runs key auth, rate limits, "
        "a blocking budget, cost and the usage journal on every call. Ratios are from this run; "
        "the machine is shared and noisy.",
        "",
        "| target | scenario | load | upstream | req/s | p50 ms | p90 ms | p99 ms | TTFB p50 ms | "
        "TTFB p99 ms | chunk gap p50 ms | server CPU ms/req | peak RSS MB | generator CPU % | "
        "req/s vs direct | req/s vs LiteLLM |",
        "|---|---|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for r in runs:
        direct = _find(runs, "direct", r.scenario, r.load, r.upstream)
        peer = _find(runs, "litellm", r.scenario, r.load, r.upstream)
        ratio = f"{r.rate / direct.rate:.2f}" if direct and direct.rate and r.target != "direct" else ""
        versus = f"{r.rate / peer.rate:.1f}" if peer and peer.rate and r.target.startswith("tollgate") else ""
        lines.append(
            f"| {r.target} | {r.scenario} | {r.load} | {r.upstream} | {r.rate:,.0f} | {r.p50_ms:.1f} | "
            f"{r.p90_ms:.1f} | {r.p99_ms:.1f} | {_ms(r.ttfb_p50_ms)} | {_ms(r.ttfb_p99_ms)} | "
            f"{_ms(r.gap_p50_ms)} | "
            f"{r.cpu_ms:.2f} | {r.rss_mb:.0f} | {100 * r.load_cpu_s / r.seconds:.0f} | {ratio} | {versus} |"
        )
    errors = sum(r.errors for r in runs)
    lines += ["", f"Failed requests in all runs: {errors}.", "", *targets(runs)]
    text = "\n".join(lines) + "\n"
    (HERE / "RESULTS.md").write_text(text)
    sys.stdout.write(text)


def targets(runs: Sequence[Run]) -> list[str]:
    """The issue's goals for one worker, each with this run's figure."""
    sat = "saturation"

    def find(target: str, scenario: str, load: str, upstream: str = "fast") -> Run | None:
        found = [r for r in runs if r.target == target and r.scenario == scenario and r.upstream == upstream]
        return next((r for r in found if r.load.startswith(load)), None)

    one = find("tollgate 1w", "chat", sat)
    more = [r.target for r in runs if r.target.startswith("tollgate") and r.target != "tollgate 1w"]
    two = find(more[0], "chat", sat) if more else None
    direct, peer = find("direct", "chat", sat), find("litellm", "chat", sat)
    rows: list[tuple[str, str, bool | None]] = []
    if one and peer:
        rows.append(("saturation >= 20x LiteLLM", f"{one.rate / peer.rate:.1f}x", one.rate >= 20 * peer.rate))
    relay = find("bare relay", "chat", sat)
    if one and relay:
        rows.append(("(no target) saturation vs the bare relay", f"{one.rate / relay.rate:.0%}", None))
    if relay and direct:
        rows.append(("(no target) the bare relay vs direct", f"{relay.rate / direct.rate:.0%}", None))
    if one and direct:
        rows.append(
            ("saturation >= 40% of direct", f"{one.rate / direct.rate:.0%}", one.rate >= 0.4 * direct.rate)
        )
        rows.append(("CPU per non-streaming call <= 1.5 ms", f"{one.cpu_ms:.2f} ms", one.cpu_ms <= 1.5))
    tg, dr = find("tollgate 1w", "chat", "200/s", "realistic"), find("direct", "chat", "200/s", "realistic")
    # "Added" is tollgate's p99 over the direct median: the upstream's latency is fixed, so this
    # never flatters tollgate, and one noisy spike in the direct tail cannot make it negative.
    if tg and dr:
        added = tg.p99_ms - dr.p50_ms
        rows.append(("added latency p99 <= 3 ms at 200 req/s", f"{added:.1f} ms", added <= 3))
    tg, dr = (
        find("tollgate 1w", "stream", "100/s", "realistic"),
        find("direct", "stream", "100/s", "realistic"),
    )
    if tg and dr and tg.ttfb_p99_ms is not None and dr.ttfb_p50_ms is not None:
        added = tg.ttfb_p99_ms - dr.ttfb_p50_ms
        rows.append(("stream: added TTFB p99 <= 2 ms", f"{added:.1f} ms", added <= 2))
    if tg and dr and tg.gap_p50_ms is not None and dr.gap_p50_ms is not None:
        gap = abs(tg.gap_p50_ms - dr.gap_p50_ms)
        rows.append(("stream: inter-chunk gap within 0.5 ms", f"{gap:.2f} ms", gap <= 0.5))
    many = find("tollgate 1w", "stream", sat, "realistic")
    if many:
        rows.append(
            ("RSS <= 150 MB with 500 concurrent streams", f"{many.rss_mb:.0f} MB", many.rss_mb <= 150)
        )
    if one and two:
        rows.append(
            (f"{two.target} >= 1.6x one worker", f"{two.rate / one.rate:.2f}x", two.rate >= 1.6 * one.rate)
        )
    out = ["## Targets (one worker unless named)", "", "| target | this run | met |", "|---|--:|---|"]
    out += [f"| {name} | {value} | {_met(met)} |" for name, value, met in rows]
    return out


def _met(met: bool | None) -> str:
    return "" if met is None else "yes" if met else "no"


def _row(run: Run) -> dict[str, Any]:
    return {
        **{name: getattr(run, name) for name in Run.__dataclass_fields__},
        "rate": run.rate,
        "cpu_ms": run.cpu_ms,
    }


if __name__ == "__main__":
    main(sys.argv[1:])
