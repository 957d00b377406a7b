"""``POST /v1/chat`` (seed 002): ``{provider, model, messages, ...}`` -> ``{response, metrics}``.

The provider's response is returned unchanged under ``response``. With ``stream: true`` (top
level or in ``providerOptions``) the provider's own event stream is relayed as it arrives and
one last ``event: metrics`` carries the metrics (Bedrock's binary frames arrive as SSE events
named by their ``:event-type``, their JSON unchanged).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tollgate.core import jsonx
from tollgate.core.errors import BadRequest, TollgateError
from tollgate.gateway.call import Outcome
from tollgate.providers.bedrock_stream import EventStreamAsSse
from tollgate.providers.chat_requests import build_native_chat, validate_messages
from tollgate.routes.doors import fail, header_tags, new_call, run
from tollgate.routes.errors import native_error
from tollgate.routes.http import bearer_or_key, json_response, parse_json_object, read_body
from tollgate.routes.present import metrics_json
from tollgate.routes.streaming import RelayResponse
from tollgate.routes.wiring import gateway_of, settings_of
from tollgate.services.credentials import supported_spec

OPTIMIZATION_MODES = ("measure_only", "safe")
CACHE_MODES = ("read_write", "read_only", "write_only", "bypass")


def _options(body: dict[str, Any]) -> tuple[str, dict[str, Any], dict[str, Any]]:
    mode = body.get("optimizationMode", "measure_only")
    if mode not in OPTIMIZATION_MODES:
        raise BadRequest(
            f"optimizationMode must be one of {', '.join(OPTIMIZATION_MODES)}",
            code="invalid_optimization_mode",
        )
    metadata = body.get("metadata") or {}
    if not isinstance(metadata, dict):
        raise BadRequest("metadata must be an object", code="invalid_metadata")
    options = body.get("providerOptions") or {}
    if not isinstance(options, dict):
        raise BadRequest("providerOptions must be an object", code="invalid_provider_options")
    policy = body.get("cachePolicy")
    if policy is not None and (
        not isinstance(policy, dict) or policy.get("exactCache", "bypass") not in CACHE_MODES
    ):
        raise BadRequest(
            f"cachePolicy.exactCache must be one of {', '.join(CACHE_MODES)}", code="invalid_cache_policy"
        )
    idem = body.get("idempotencyKey")
    if idem is not None and (not isinstance(idem, str) or not idem or len(idem) > 255):
        raise BadRequest(
            "idempotencyKey must be a string of 1 to 255 characters", code="invalid_idempotency_key"
        )
    return mode, metadata, options


async def _with_metrics(outcome: Outcome, mode: str) -> AsyncIterator[bytes]:
    assert outcome.chunks is not None
    async for chunk in outcome.chunks:
        yield chunk
    record = outcome.state.record
    if record is not None:
        payload = jsonx.dumps(metrics_json(record, optimizationMode=mode))
        yield b"event: metrics\ndata: " + payload + b"\n\n"


async def chat(request: Request) -> Response:
    gateway = gateway_of(request)
    started = gateway.now()
    try:
        key = await gateway.authenticate(bearer_or_key(request), "proxy")
    except TollgateError as exc:
        return native_error(exc)
    call = new_call(gateway, request, door="chat", key=key, started=started)
    try:
        body = parse_json_object(await read_body(request, settings_of(request).max_body_bytes))
        spec = supported_spec(body.get("provider"))
        call.spec = spec
        model = body.get("model")
        if not isinstance(model, str) or not model.strip():
            raise BadRequest("model is required", code="invalid_model")
        call.model = model
        messages = validate_messages(body.get("messages"))
        mode, metadata, options = _options(body)
        stream = body.get("stream") is True or options.get("stream") is True
        native = build_native_chat(spec, model, messages, options, stream=stream)
    except TollgateError as exc:
        return fail(gateway, call, exc, native_error)
    call.path, call.query, call.operation = native.path, native.query, native.operation
    call.body, call.stream = native.body, stream
    if stream and spec.family == "bedrock":
        call.translator = EventStreamAsSse()  # its binary frames as SSE, like every other stream here
    call.tags = header_tags(request, None, metadata)
    outcome = await run(gateway, call, native_error)
    if isinstance(outcome, Response):
        return outcome
    if outcome.chunks is not None:
        return RelayResponse(
            _with_metrics(outcome, mode),
            outcome.state,
            status_code=outcome.status,
            headers=outcome.headers,
            media_type=outcome.content_type,
        )
    record = outcome.record
    metrics = metrics_json(record, optimizationMode=mode) if record else None
    if outcome.status >= 400:
        error = {
            "code": "provider_error",
            "message": f"{spec.id} answered {outcome.status}",
            "providerStatus": outcome.status,
            "providerError": outcome.parsed
            if outcome.parsed is not None
            else (outcome.body or b"").decode(errors="replace"),
        }
        return json_response({"error": error, "metrics": metrics}, outcome.status, _tollgate_only(outcome))
    return json_response({"response": outcome.parsed, "metrics": metrics}, 200, _tollgate_only(outcome))


def _tollgate_only(outcome: Outcome) -> list[tuple[str, str]]:
    return [(k, v) for k, v in outcome.headers if k.startswith("x-tollgate-")]


routes = [Route("/v1/chat", chat, methods=["POST"])]
