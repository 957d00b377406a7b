"""The upstream HTTP seam.

Everything that talks to a provider goes through a ``Transport``: a callable from an
``UpstreamRequest`` to an ``UpstreamResponse``. Production uses one pooled aiohttp session
(``AiohttpTransport``); tests may pass any function with the same shape. Driver errors are
translated here into ``UpstreamError`` / ``UpstreamTimeout`` with messages that name the host
only: never a header, a key or a query string.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlsplit

import aiohttp
from yarl import URL

from tollgate.core.errors import UpstreamError, UpstreamTimeout

Headers = list[tuple[str, str]]

# Response headers that describe the hop, not the payload: never relayed.
HOP_HEADERS = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "content-length",
        "content-encoding",
        "date",
        "server",
        "set-cookie",
    }
)


@dataclass(frozen=True, slots=True)
class UpstreamRequest:
    method: str
    url: str
    headers: Headers
    body: bytes | None = None


class UpstreamResponse(Protocol):
    status: int
    headers: Headers  # lower-cased names, relay-safe (hop headers removed)

    async def read(self) -> bytes: ...

    def chunks(self) -> AsyncIterator[bytes]:
        """Body bytes as they arrive. Raises ``UpstreamError``/``UpstreamTimeout`` on a broken stream."""
        ...

    async def aclose(self) -> None: ...


Transport = Callable[[UpstreamRequest], Awaitable[UpstreamResponse]]


@dataclass(frozen=True, slots=True)
class Timeouts:
    connect: float = 10.0
    first_byte: float = 300.0
    idle: float = 120.0


def host_of(url: str) -> str:
    return urlsplit(url).hostname or "upstream"


class _AiohttpResponse:
    def __init__(self, response: aiohttp.ClientResponse, idle: float, host: str) -> None:
        self._response = response
        self._idle = idle
        self._host = host
        self.status = response.status
        self.headers: Headers = [
            (k.lower(), v) for k, v in response.headers.items() if k.lower() not in HOP_HEADERS
        ]

    async def read(self) -> bytes:
        parts = [chunk async for chunk in self.chunks()]
        return b"".join(parts)

    async def chunks(self) -> AsyncIterator[bytes]:
        content = self._response.content
        try:
            while True:
                async with asyncio.timeout(self._idle):
                    chunk = await content.readany()
                if not chunk:
                    return
                yield chunk
        except TimeoutError as exc:
            raise UpstreamTimeout(
                f"{self._host} sent nothing for {self._idle:g}s", code="upstream_idle_timeout"
            ) from exc
        except (aiohttp.ClientPayloadError, aiohttp.ServerDisconnectedError, aiohttp.ClientOSError) as exc:
            raise UpstreamError(
                f"{self._host} closed the connection mid-response", code="upstream_stream_broken"
            ) from exc
        finally:
            self._response.release()

    async def aclose(self) -> None:
        self._response.close()


# A URL that is already a valid URI: RFC 3986 characters, and ``%`` only as an escape.
_VALID_URI = re.compile(r"(?:[\w\-.~:/?#\[\]@!$&'()*+,;=]|%[0-9A-Fa-f]{2})*", re.ASCII)


def wire_url(url: str) -> URL | str:
    """The URL to put on the wire: exactly as built when it is a valid URI, else left to aiohttp to
    quote. Sent as a plain string, yarl would decode escapes it deems unnecessary (``%3A`` -> ``:``),
    but a SigV4 signature covers the path as built (Bedrock model ids), so it must travel unchanged."""
    return URL(url, encoded=True) if _VALID_URI.fullmatch(url) else url


class AiohttpTransport:
    """One pooled aiohttp session for every upstream call. Create inside the event loop."""

    def __init__(self, timeouts: Timeouts | None = None, *, pool_size: int = 0) -> None:
        self._timeouts = timeouts or Timeouts()
        connector = aiohttp.TCPConnector(limit=pool_size, ttl_dns_cache=300, keepalive_timeout=30)
        self._session = aiohttp.ClientSession(
            connector=connector,
            timeout=aiohttp.ClientTimeout(
                total=None, connect=self._timeouts.connect, sock_connect=self._timeouts.connect
            ),
            auto_decompress=True,
            skip_auto_headers=("User-Agent",),
        )

    async def __call__(self, request: UpstreamRequest) -> UpstreamResponse:
        host = host_of(request.url)
        try:
            async with asyncio.timeout(self._timeouts.first_byte):
                response = await self._session.request(
                    request.method,
                    wire_url(request.url),
                    headers=request.headers,
                    data=request.body,
                    allow_redirects=False,
                )
        except TimeoutError as exc:
            raise UpstreamTimeout(
                f"{host} did not answer within {self._timeouts.first_byte:g}s", code="upstream_timeout"
            ) from exc
        except aiohttp.InvalidURL as exc:
            raise UpstreamError(
                f"the provider base URL for {host} is invalid", code="invalid_base_url"
            ) from exc
        except (aiohttp.ClientConnectionError, OSError) as exc:
            raise UpstreamError(f"could not reach {host}", code="upstream_unreachable") from exc
        return _AiohttpResponse(response, self._timeouts.idle, host)

    async def close(self) -> None:
        await self._session.close()
