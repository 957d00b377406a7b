"""An ASGI response that relays a stream and keeps draining it after the client leaves.

Starlette's ``StreamingResponse`` stops iterating when the client disconnects; a gateway must
not, or the call would go unmetered. This response watches ``receive()`` for
``http.disconnect``, stops sending from then on, marks the stream state, and iterates the
relay to its end so the upstream usage is still read and recorded. A relay that raises
``StreamAborted`` gets its transfer cut off, so the client cannot take a broken answer for a
whole one.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence

from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from tollgate.gateway.call import StreamAborted, StreamState


class RelayResponse(Response):
    def __init__(
        self,
        chunks: AsyncIterator[bytes],
        state: StreamState,
        *,
        status_code: int,
        headers: Sequence[tuple[str, str]],
        media_type: str,
    ) -> None:
        self._chunks = chunks
        self._state = state
        self.status_code = status_code
        self.media_type = media_type
        self.background = None
        self.body = b""
        self.raw_headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers]
        if not any(k == b"content-type" for k, _ in self.raw_headers):
            self.raw_headers.append((b"content-type", media_type.encode("latin-1")))
        self.raw_headers.append((b"cache-control", b"no-cache"))
        self.raw_headers.append((b"x-accel-buffering", b"no"))

    async def _watch(self, receive: Receive) -> None:
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                self._state.client_gone = True
                return

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        watcher = asyncio.create_task(self._watch(receive))
        try:
            await send(
                {"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers}
            )
            try:
                async for chunk in self._chunks:
                    if not self._state.client_gone:
                        try:
                            await send({"type": "http.response.body", "body": chunk, "more_body": True})
                        except OSError:
                            self._state.client_gone = True
            except StreamAborted:
                return  # never send the last empty body: the server closes the connection mid-body
            if not self._state.client_gone:
                await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            watcher.cancel()
            close = getattr(self._chunks, "aclose", None)
            if close is not None:
                await close()
