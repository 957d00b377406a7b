"""Writing replies and streams to ASGI, with the timing and failure knobs applied.

A *dropped connection* is the ASGI app returning before it sent the last body message: the server
then closes the socket, so the client sees a body shorter than ``content-length`` or a chunked stream
without its terminating chunk (uvicorn logs "ASGI callable returned without completing response").
"""

from __future__ import annotations

import asyncio

from tollgate.testing._scenario import Scenario
from tollgate.testing._sse import truncated
from tollgate.testing._types import Receive, Reply, Send, Sleep, StreamPlan


async def send_reply(send: Send, reply: Reply, scenario: Scenario) -> None:
    body = reply.body
    cut = reply.answer and (scenario.malformed_after is not None or scenario.disconnect_after is not None)
    drop = reply.answer and scenario.disconnect_after is not None
    if cut and not drop:
        body = body[: len(body) // 2]  # malformed: a complete response whose JSON is cut off
    headers = [
        (b"content-type", reply.content_type),
        (b"content-length", str(len(body)).encode()),
        *reply.headers,
    ]
    await send({"type": "http.response.start", "status": reply.status, "headers": headers})
    if drop:
        await send({"type": "http.response.body", "body": body[: len(body) // 2], "more_body": True})
        return  # the server closes the connection short of content-length
    await send({"type": "http.response.body", "body": body, "more_body": False})


class _DisconnectWatch:
    """Notices the client going away while a paced stream sleeps, so the stream stops early."""

    def __init__(self, receive: Receive) -> None:
        self._task = asyncio.get_running_loop().create_task(self._wait(receive))

    @staticmethod
    async def _wait(receive: Receive) -> None:
        while (await receive())["type"] != "http.disconnect":
            pass

    @property
    def gone(self) -> bool:
        return self._task.done()

    def close(self) -> None:
        self._task.cancel()


def _at(knob: int | None, last: int) -> int | None:
    """A knob's chunk index, with anything past the last chunk meaning "before the closing frames"."""
    return None if knob is None else min(knob, last)


async def send_stream(
    send: Send, receive: Receive, plan: StreamPlan, scenario: Scenario, sleep: Sleep
) -> None:
    headers = [(b"content-type", plan.content_type), (b"cache-control", b"no-cache"), *plan.headers]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    n = len(plan.content)
    disconnect = _at(scenario.disconnect_after, n)
    error = _at(scenario.midstream_error_after, n)
    malformed = _at(scenario.malformed_after, n)
    delay = scenario.chunk_delay
    if not delay and disconnect is None and error is None and malformed is None:
        # The hot path: the whole stream in one write.
        await send({"type": "http.response.body", "body": b"".join([*plan.head, *plan.content, *plan.tail])})
        return
    watch = _DisconnectWatch(receive) if delay else None
    try:
        if plan.head:
            await send({"type": "http.response.body", "body": b"".join(plan.head), "more_body": True})
        for k in range(n + 1):
            if delay and k:
                await sleep(delay)
                if watch is not None and watch.gone:
                    return
            if k == disconnect:
                return  # drop the connection mid-stream
            if k == error:
                await send({"type": "http.response.body", "body": plan.error_frame(k), "more_body": False})
                return
            frame = plan.content[k] if k < n else b"".join(plan.tail)
            if k == malformed:
                frame = truncated(frame) + frame
            await send({"type": "http.response.body", "body": frame, "more_body": k < n})
    finally:
        if watch is not None:
            watch.close()
