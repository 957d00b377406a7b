"""Small HTTP helpers shared by the doors: body limits, JSON parsing, key extraction."""

from __future__ import annotations

from collections.abc import Coroutine
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from tollgate.core import jsonx
from tollgate.core.errors import BadRequest, PayloadTooLarge


def json_response(body: Any, status: int = 200, headers: list[tuple[str, str]] | None = None) -> Response:
    response = Response(jsonx.dumps(body), status_code=status, media_type="application/json")
    for name, value in headers or []:
        response.headers.append(name, value)
    return response


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refusing more than ``limit`` bytes before reading them all."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"request body exceeds the {limit} byte limit")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"request body exceeds the {limit} byte limit")
        chunks.append(chunk)
    return b"".join(chunks)


async def client_gone(request: Request) -> bool:
    """Whether the client has hung up, asked without waiting (its body already read).

    Starlette's ``is_disconnected`` asks the same inside an anyio cancel scope, a cancellation
    per call. Here the server's ``receive`` is stepped once by hand instead: a message it has
    ready comes back at once, and if it would wait the client is still there, so the step is
    abandoned (closing the coroutine runs its clean-up). A ``receive`` that is not a coroutine
    cannot be stepped; its client counts as present.
    """
    pending = request.receive()
    if not isinstance(pending, Coroutine):
        return False
    try:
        pending.send(None)
    except StopIteration as done:
        message = done.value
        return isinstance(message, dict) and message.get("type") == "http.disconnect"
    pending.close()
    return False


def parse_json_object(body: bytes, *, code: str = "invalid_json") -> dict[str, Any]:
    if not body.strip():
        raise BadRequest("request body must be a JSON object", code=code)
    try:
        value = jsonx.loads(body)
    except jsonx.JSONDecodeError as exc:
        raise BadRequest("request body is not valid JSON", code=code) from exc
    if not isinstance(value, dict):
        raise BadRequest("request body must be a JSON object", code=code)
    return value


def bearer_or_key(request: Request) -> str | None:
    """The gateway key from ``Authorization: Bearer``, ``x-api-key``, ``x-goog-api-key`` or ``api-key``."""
    auth = request.headers.get("authorization")
    if auth:
        scheme, _, value = auth.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
    for name in ("x-api-key", "x-goog-api-key", "api-key"):
        found = request.headers.get(name)
        if found:
            return found.strip()
    return request.query_params.get("key") or None
