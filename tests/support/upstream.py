"""An upstream answer held in memory, for tests that fake the provider with a transport function."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from tollgate.core import jsonx
from tollgate.gateway.upstream import Headers


class FakeResponse:
    """A whole JSON answer: ``body`` as bytes, sent as they are, or any value, sent as JSON."""

    def __init__(self, status: int, body: Any) -> None:
        self.status = status
        self.headers: Headers = [("content-type", "application/json")]
        self._body = body if isinstance(body, bytes) else jsonx.dumps(body)
        self.closed = False

    async def read(self) -> bytes:
        return self._body

    async def chunks(self) -> AsyncIterator[bytes]:
        yield self._body

    async def aclose(self) -> None:
        self.closed = True
