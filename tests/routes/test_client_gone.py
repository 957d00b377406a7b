"""Asking whether a client hung up, without waiting for it (routes/http.client_gone)."""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.requests import Request

from tollgate.routes.http import client_gone

SCOPE: dict[str, Any] = {"type": "http", "method": "POST", "path": "/v1/chat/completions", "headers": []}


def test_a_client_that_hung_up_is_reported_gone() -> None:
    async def receive() -> dict[str, Any]:
        return {"type": "http.disconnect"}

    assert asyncio.run(client_gone(Request(SCOPE, receive))) is True


def test_a_client_still_there_is_not_reported_gone_and_the_check_leaves_nothing_waiting() -> None:
    async def scenario() -> tuple[bool, int, bool]:
        arrived = asyncio.Event()

        async def receive() -> dict[str, Any]:  # as a server's: waits until the client leaves
            await arrived.wait()
            return {"type": "http.disconnect"}

        gone = await client_gone(Request(SCOPE, receive))
        waiting = len(arrived._waiters)  # type: ignore[attr-defined]
        arrived.set()  # the client leaves later: asking again says so
        return gone, waiting, await client_gone(Request(SCOPE, receive))

    gone, waiting, later = asyncio.run(scenario())
    assert gone is False
    assert waiting == 0
    assert later is True
