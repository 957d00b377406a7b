"""A pure-ASGI middleware: gives each request an id and writes one JSON log line for it.

Every response carries ``x-tollgate-request-id``, also the 500 of an unexpected error: such an
error is answered here (native error format, no detail of the failure) and logged once, with
the request id and the traceback, so an operator can find the line a user quotes.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tollgate.core import jsonx
from tollgate.core.errors import TollgateError

log = logging.getLogger("tollgate.access")

_INTERNAL_MESSAGE = "tollgate could not handle this request; its request id names it in the logs"


class RequestIdMiddleware:
    def __init__(self, app: ASGIApp, new_id: Callable[[], str], access_log: bool) -> None:
        self.app = app
        self._new_id = new_id
        self._access_log = access_log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = self._new_id()
        scope.setdefault("state", {})["request_id"] = request_id
        started = time.perf_counter()
        status = 500
        response_started = False
        failure: Exception | None = None

        async def send_with_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                status = message["status"]
                response_started = True
                headers = list(message.get("headers", []))
                if not any(k == b"x-tollgate-request-id" for k, _ in headers):
                    headers.append((b"x-tollgate-request-id", request_id.encode()))
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception as exc:
            failure = exc
            if response_started:
                raise  # mid-body: nothing can be said any more; the server drops the connection
            await _internal_error(send_with_id)
        finally:
            if self._access_log or status >= 500:
                log.log(
                    logging.ERROR if status >= 500 else logging.INFO,
                    "unhandled error" if failure is not None else "request",
                    exc_info=failure,
                    extra={
                        "request_id": request_id,
                        "method": scope.get("method"),
                        "path": scope.get("path"),
                        "status": status,
                        "latency_ms": round((time.perf_counter() - started) * 1000, 2),
                    },
                )


async def _internal_error(send: Send) -> None:
    body = jsonx.dumps({"error": TollgateError(_INTERNAL_MESSAGE).to_dict()})
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 500, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})
