"""Shared by the SDK-compatible doors: run a JSON request for one operation, add metrics."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from tollgate.core import jsonx
from tollgate.core.errors import BadRequest, TollgateError
from tollgate.gateway.call import GatewayCall
from tollgate.providers.base import Operation
from tollgate.providers.registry import ProviderSpec
from tollgate.routes.doors import ErrorRenderer, fail, header_tags, new_call, outcome_response, run
from tollgate.routes.http import bearer_or_key, parse_json_object, read_body
from tollgate.routes.present import metrics_json
from tollgate.routes.wiring import gateway_of, settings_of

# Resolves (request body, model) to (provider, model to send upstream).
Resolver = Callable[[dict[str, Any], str], tuple[ProviderSpec, str]]


TAG_KEYS = ("feature", "customerId")


def _take_tags(body: dict[str, Any]) -> dict[str, Any] | None:
    """tollgate's own keys in ``metadata`` are tags, not provider fields: take them out of the body.

    (Anthropic accepts only ``user_id`` in ``metadata``; OpenAI limits its keys and values.)
    """
    metadata = body.get("metadata")
    if not isinstance(metadata, dict) or not any(k in metadata for k in TAG_KEYS):
        return None
    tags = {k: metadata[k] for k in TAG_KEYS if k in metadata}
    rest = {k: v for k, v in metadata.items() if k not in TAG_KEYS}
    if rest:
        body["metadata"] = rest
    else:
        del body["metadata"]
    return tags


async def compat_door(
    request: Request,
    *,
    door: str,
    path: str,
    operation: Operation,
    resolve: Resolver,
    render: ErrorRenderer,
) -> Response:
    gateway = gateway_of(request)
    started = gateway.now()
    try:
        key = await gateway.authenticate(bearer_or_key(request), "proxy")
    except TollgateError as exc:
        return render(exc)
    call: GatewayCall = new_call(gateway, request, door=door, key=key, started=started, operation=operation)
    try:
        body = parse_json_object(await read_body(request, settings_of(request).max_body_bytes))
        model = body.get("model")
        if not isinstance(model, str) or not model.strip():
            raise BadRequest("model is required", code="invalid_model")
        call.model = model
        spec, upstream_model = resolve(body, model)
    except TollgateError as exc:
        return fail(gateway, call, exc, render)
    body["model"] = upstream_model
    call.spec, call.model, call.path, call.body = spec, upstream_model, path, body
    call.stream = body.get("stream") is True
    call.forward_headers = [
        (name, value)
        for name, value in request.headers.items()
        if name in ("anthropic-version", "anthropic-beta", "openai-organization", "openai-project")
    ]
    call.tags = header_tags(request, None, _take_tags(body))
    outcome = await run(gateway, call, render)
    if isinstance(outcome, Response):
        return outcome
    if (
        outcome.chunks is None
        and outcome.record is not None
        and isinstance(outcome.parsed, dict)
        and outcome.status < 400
        and call.operation is not Operation.OTHER
    ):
        metrics = {"metrics": metrics_json(outcome.record)}
        enriched = dict(outcome.parsed)
        # Seed 002's wrappers return the metrics under ``killtoken`` and in a header; both names work.
        enriched["tollgate"] = enriched["killtoken"] = metrics
        header = jsonx.dumps(metrics["metrics"]).decode()
        extra = [("x-tollgate-metrics", header), ("x-killtoken-metrics", header)]
        return outcome_response(outcome, body=jsonx.dumps(enriched), extra=extra)
    return outcome_response(outcome)
