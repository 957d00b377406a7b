"""A small client for tollgate's management API, over an injectable transport.

The transport is a function from request to streamed response (tests may pass their own);
the default speaks HTTP/1.1 through the standard library, ignoring proxy variables so a
token only ever goes to the server named. Errors join tollgate's one tree:

    TollgateError
    ├── ApiError            the server answered with an error (its status, code and message)
    └── ServerUnreachable   no answer from the server URL (refused, unknown host, timeout, cut off)
"""

from __future__ import annotations

import json
import socket
import ssl
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from http.client import HTTPConnection, HTTPException, HTTPSConnection
from typing import Any
from urllib.parse import urlencode, urlsplit

from tollgate import __version__
from tollgate.core.errors import TollgateError

CHUNK = 64 * 1024
Params = Sequence[tuple[str, str]]


class ApiError(TollgateError):
    """The server refused a call; ``http_status`` and ``code`` are the server's own."""


class ServerUnreachable(TollgateError):
    status = 503
    default_code = "server_unreachable"


@dataclass(frozen=True, slots=True)
class HttpRequest:
    method: str
    url: str
    headers: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class HttpResponse:
    status: int
    headers: Mapping[str, str]  # names lower-cased
    chunks: Iterator[bytes]  # the body as it arrives
    close: Callable[[], None]

    def read(self) -> bytes:
        try:
            return b"".join(self.chunks)
        finally:
            self.close()


Transport = Callable[[HttpRequest], HttpResponse]


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _reason(exc: BaseException) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, socket.gaierror):
        return "unknown host"
    if isinstance(exc, TimeoutError):
        return "timed out"
    if isinstance(exc, ssl.SSLError):
        return f"TLS error: {exc.reason or exc}"
    return type(exc).__name__ if not str(exc) else f"{type(exc).__name__}: {exc}"


def _unreachable(url: str, exc: BaseException) -> ServerUnreachable:
    return ServerUnreachable(f"cannot reach the tollgate server at {origin_of(url)} ({_reason(exc)})")


def http_transport(timeout: float = 30.0) -> Transport:
    """The standard library's HTTP client, one connection per call."""

    def send(request: HttpRequest) -> HttpResponse:
        parts = urlsplit(request.url)
        secure = parts.scheme == "https"
        kind = HTTPSConnection if secure else HTTPConnection
        # The port is always given: with none, http.client would read ``::1`` as host ``:`` port 1.
        port = parts.port or (443 if secure else 80)
        connection = kind(parts.hostname or "", port, timeout=timeout)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        try:
            connection.request(request.method, target, headers=dict(request.headers))
            response = connection.getresponse()
        except (OSError, HTTPException) as exc:
            connection.close()
            raise _unreachable(request.url, exc) from exc

        def chunks() -> Iterator[bytes]:
            try:
                while chunk := response.read1(CHUNK):
                    yield chunk
            except (OSError, HTTPException) as exc:
                raise _unreachable(request.url, exc) from exc

        headers = {name.lower(): value for name, value in response.getheaders()}
        return HttpResponse(response.status, headers, chunks(), connection.close)

    return send


def _error_from(response: HttpResponse) -> ApiError:
    body = response.read()
    try:
        error = json.loads(body)["error"]
        code, message = str(error["code"]), str(error["message"])
    except (ValueError, KeyError, TypeError):
        code, message = "http_error", f"the server answered HTTP {response.status}"
    return ApiError(message, code=code, status=response.status)


class ApiClient:
    """Calls one server with one token; the workspace header is sent when one is named."""

    def __init__(
        self,
        server: str,
        token: str,
        workspace: str | None = None,
        *,
        transport: Transport | None = None,
    ) -> None:
        self.server = server.rstrip("/")
        self._token = token
        self._workspace = workspace
        self._transport = transport or http_transport()

    def _request(self, path: str, params: Params, accept: str) -> HttpRequest:
        query = urlencode([(k, v) for k, v in params])
        headers = {
            "authorization": f"Bearer {self._token}",
            "accept": accept,
            "user-agent": f"tollgate-cli/{__version__}",
        }
        if self._workspace:
            headers["x-tollgate-workspace"] = self._workspace
        return HttpRequest("GET", self.server + path + (f"?{query}" if query else ""), headers)

    @contextmanager
    def stream(self, path: str, params: Params = (), accept: str = "*/*") -> Iterator[HttpResponse]:
        """A successful response whose body is read as it arrives; closed on leaving."""
        response = self._transport(self._request(path, params, accept))
        try:
            if not 200 <= response.status < 300:
                raise _error_from(response)
            yield response
        finally:
            response.close()

    def get_json(self, path: str, params: Params = ()) -> Any:
        with self.stream(path, params, accept="application/json") as response:
            body = response.read()
        try:
            return json.loads(body)
        except ValueError as exc:
            raise ApiError(
                f"{self.server} did not answer {path} with JSON: is it a tollgate server?",
                code="not_json",
                status=response.status,
            ) from exc
