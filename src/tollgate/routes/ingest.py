"""``POST /api/ingest`` (seed 001): usage events from apps that call providers themselves.

The key comes as ``Authorization: Bearer`` or ``x-api-key``. The body is one event or an array of
up to 1,000. Answers in seed 001's format: ``201 {"ok": true, "consumption_source": "included",
"accepted": N, "id" | "ids"}``; errors ``{"error": "<sentence>", "code": "<stable code>"}`` plus
the details (``message``; ``field`` and ``errors`` for an invalid payload).
"""

from __future__ import annotations

import logging
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tollgate.core import jsonx
from tollgate.core.errors import BadRequest, TollgateError
from tollgate.routes.http import bearer_or_key, json_response, read_body
from tollgate.routes.wiring import context_of
from tollgate.services.ingest import IngestResult

log = logging.getLogger("tollgate.ingest")

# The seed's sentence per status; other statuses say their own message.
_SENTENCES = {400: "Invalid payload", 413: "Payload too large", 500: "Internal server error"}


def ingest_error(error: TollgateError) -> Response:
    status = error.http_status
    # 401 says the seed's own sentence ("Missing API key", "Revoked API key", ...).
    sentence = error.message.rstrip(".") if status == 401 else _SENTENCES.get(status, error.message)
    body: dict[str, Any] = {"error": sentence, "code": error.code}
    if sentence != error.message.rstrip(".") and status != 500:
        body["message"] = error.message
    body.update(error.details)
    return json_response(body, status)


def _success(result: IngestResult) -> dict[str, Any]:
    body: dict[str, Any] = {"ok": True, "consumption_source": "included", "accepted": len(result.ids)}
    if result.single:
        body["id"] = result.ids[0]
    else:
        body["ids"] = list(result.ids)
    return body


def _parse(body: bytes) -> object:
    if not body.strip():
        raise BadRequest("the body is empty: send a JSON event", code="invalid_json")
    try:
        return jsonx.loads(body)
    except jsonx.JSONDecodeError as exc:
        raise BadRequest("the body is not valid JSON", code="invalid_json") from exc


async def ingest(request: Request) -> Response:
    ctx = context_of(request)
    try:
        key = await ctx.ingest.authenticate(bearer_or_key(request))
        payload = _parse(await read_body(request, ctx.settings.max_body_bytes))
        result = await ctx.ingest.ingest(key, payload)
    except TollgateError as exc:
        return ingest_error(exc)
    except Exception:  # answered in the seed's format; the traceback goes to the log, not the client
        request_id = request.scope.get("state", {}).get("request_id")
        log.exception("ingest failed", extra={"request_id": request_id})
        return ingest_error(TollgateError("Internal server error"))
    return json_response(_success(result), 201)


routes = [Route("/api/ingest", ingest, methods=["POST"])]
