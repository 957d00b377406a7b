"""The floor under any Python gateway, for ``bench/speed.py``: a bare relay on tollgate's own
stack (uvicorn with httptools on uvloop in, one pooled aiohttp session out) that forwards each
request to the upstream and streams the answer back, and does nothing else: no auth, no limits,
no parsing, no record. What tollgate reaches next to it is what its pipeline costs; what this
reaches next to the direct calls is what two HTTP hops in Python cost.

    python bench/speed_relay.py PORT UPSTREAM_ROOT
"""

from __future__ import annotations

import sys
from typing import Any

import aiohttp
import uvicorn

HOP = frozenset({b"host", b"content-length", b"connection", b"transfer-encoding"})


class Relay:
    def __init__(self, upstream: str) -> None:
        self._upstream = upstream
        self._session: aiohttp.ClientSession | None = None

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await receive()  # lifespan.startup
            self._session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
            await send({"type": "lifespan.startup.complete"})
            await receive()  # lifespan.shutdown
            await self._session.close()
            await send({"type": "lifespan.shutdown.complete"})
            return
        assert self._session is not None
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode(): v.decode() for k, v in scope["headers"] if k not in HOP}
        url = self._upstream + "/openai" + scope["path"]
        async with self._session.request(scope["method"], url, data=body, headers=headers) as answer:
            kept = [(k.lower().encode(), v.encode()) for k, v in answer.headers.items()]
            relayed = [(k, v) for k, v in kept if k not in HOP]
            await send({"type": "http.response.start", "status": answer.status, "headers": relayed})
            async for chunk in answer.content.iter_any():
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})


def main(argv: list[str]) -> None:
    port, upstream = int(argv[0]), argv[1]
    uvicorn.run(
        Relay(upstream),
        host="127.0.0.1",
        port=port,
        loop="uvloop",
        http="httptools",
        log_level="warning",
        access_log=False,
    )


if __name__ == "__main__":
    main(sys.argv[1:])
