"""The hot path alone: tollgate's own CPU per call, in process, without sockets.

``python -m bench`` measures tollgate as a server, where the kernel, the simulator on the same
core and the machine's noise move figures by tens of percent between runs. This drives the
real app (key auth, rate limits, a blocking budget, cost, the usage journal and its writer into
SQLite) through ASGI directly, with an upstream that answers from memory (a transport
function), and reports the process CPU per call once the journal has drained. It is the
figure to compare two versions of the code by, run after run.

    python bench/hotpath.py [--calls 20000] [--profile out.pstats] [--scenario chat|stream]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import uvloop

from tollgate.app import create_app
from tollgate.core import jsonx
from tollgate.core.settings import Settings
from tollgate.gateway.upstream import Headers, UpstreamRequest, UpstreamResponse
from tollgate.routes.wiring import AppContext

TOKEN = "bench-admin-token-0123456789abcdef"
PLENTY = 10**9
ANSWER = jsonx.dumps(
    {
        "id": "chatcmpl-bench",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": "gpt-4o-mini",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "Hello, benchmark!"},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 14, "completion_tokens": 4, "total_tokens": 18},
    }
)
CHUNKS = [
    b'data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini",'
    b'"choices":[{"index":0,"delta":{"content":"tok "},"finish_reason":null}]}\n\n'
] * 49 + [
    b'data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini","choices":[],'
    b'"usage":{"prompt_tokens":14,"completion_tokens":49,"total_tokens":63}}\n\ndata: [DONE]\n\n'
]


class Canned:
    """An upstream answer held in memory."""

    def __init__(self, stream: bool) -> None:
        self.status = 200
        kind = "text/event-stream" if stream else "application/json"
        self.headers: Headers = [("content-type", kind)]
        self._stream = stream

    async def read(self) -> bytes:
        return b"".join(CHUNKS) if self._stream else ANSWER

    async def chunks(self) -> AsyncIterator[bytes]:
        for chunk in CHUNKS if self._stream else [ANSWER]:
            yield chunk

    async def aclose(self) -> None:
        return None


async def upstream(request: UpstreamRequest) -> UpstreamResponse:
    return Canned(stream=b'"stream":true' in (request.body or b""))


async def call(
    app: Any, method: str, path: str, headers: dict[str, str], body: Any = None
) -> tuple[int, bytes]:
    """One request through the ASGI app; the status and the whole body."""
    raw = b"" if body is None else jsonx.dumps(body)
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [
            (k.encode(), v.encode()) for k, v in {**headers, "content-type": "application/json"}.items()
        ],
        "client": ("127.0.0.1", 5000),
        "server": ("127.0.0.1", 8787),
    }
    sent = False
    parts: list[bytes] = []
    status = 0
    finished = asyncio.Event()

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": raw, "more_body": False}
        await finished.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            parts.append(message.get("body", b""))
            if not message.get("more_body"):
                finished.set()

    await app(scope, receive, send)
    return status, b"".join(parts)


async def tenant(app: Any) -> str:
    admin = {"authorization": f"Bearer {TOKEN}"}
    status, body = await call(app, "POST", "/v1/workspaces", admin, {"name": "bench"})
    scoped = {**admin, "x-tollgate-workspace": jsonx.loads(body)["id"]}
    _, body = await call(app, "POST", "/v1/keys", scoped, {"name": "bench"})
    key = jsonx.loads(body)
    credential = {
        "provider": "openai",
        "apiKey": "sk-bench-0000",
        "config": {"baseUrl": "http://upstream.invalid"},
    }
    for method, path, payload in (
        ("POST", "/v1/provider-credentials", credential),
        (
            "PATCH",
            f"/v1/keys/{key['id']}",
            {"limits": {"requestsPerMinute": PLENTY, "tokensPerMinute": PLENTY}},
        ),
        ("POST", "/v1/budgets", {"scope": {"type": "workspace"}, "period": "monthly", "limitUsd": "1000000"}),
    ):
        status, body = await call(app, method, path, scoped, payload)
        if status >= 300:
            raise RuntimeError(f"{method} {path}: {status} {body.decode()}")
    raw: str = key["key"]
    return raw


async def measure(calls: int, stream: bool, profile: Path | None) -> None:
    with tempfile.TemporaryDirectory() as home:
        app = create_app(Settings(home=Path(home), admin_token=TOKEN), transport=upstream)
        async with app.router.lifespan_context(app):
            ctx: AppContext = app.state.ctx
            key = await tenant(app)
            headers = {"authorization": f"Bearer {key}"}
            body = {
                "model": "gpt-4o-mini",
                "messages": [{"role": "user", "content": "Say hello to the benchmark."}],
            }
            if stream:
                body["stream"] = True

            async def run(n: int) -> None:
                for _ in range(n):
                    status, answer = await call(app, "POST", "/v1/chat/completions", headers, body)
                    if status != 200:
                        raise RuntimeError(f"a call answered {status}: {answer.decode()}")
                await ctx.journal.flush(timeout=60)

            await run(min(2_000, calls))  # warm: caches, the ledger's accounts, the writer
            profiler = cProfile.Profile() if profile else None
            cpu, wall = time.process_time(), time.perf_counter()
            if profiler:
                profiler.enable()
            await run(calls)
            if profiler:
                profiler.disable()
                profiler.dump_stats(profile)  # type: ignore[arg-type]
            cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    kind = "stream of 50 chunks" if stream else "chat"
    sys.stdout.write(
        f"{kind}: {calls} calls, {1e6 * cpu / calls:.0f} us CPU a call ({1e6 * wall / calls:.0f} us wall), "
        "journal drained into SQLite\n"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description="tollgate's CPU per call, in process")
    parser.add_argument("--calls", type=int, default=20_000)
    parser.add_argument("--scenario", choices=["chat", "stream"], default="chat")
    parser.add_argument("--profile", type=Path, help="write cProfile stats of the measured calls here")
    args = parser.parse_args()
    # uvloop, as ``tollgate serve`` runs
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(measure(args.calls, args.scenario == "stream", args.profile))


if __name__ == "__main__":
    main()
