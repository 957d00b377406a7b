"""``/api/proxy``: seed 000's envelope and seed 003's endpoint form, and native pass-through.

- ``POST /api/proxy`` with ``{provider, payload, _meta}``: ``payload`` is the provider's own body,
  sent to its chat endpoint (``_meta`` is stripped). Where the provider takes the model and the
  streaming in the URL (Gemini, Vertex AI, Bedrock), they move there; Claude on Vertex also gets
  its ``anthropic_version``; an Azure deployment's path comes from the credential. The provider's
  body and status come back unmodified. ``{endpoint, model, messages, ...}`` names the endpoint by
  URL instead; only the provider is taken from it: the call always goes to the workspace's stored
  base URL.
- ``ANY /api/proxy/{provider}/{path}``: for provider SDKs and tools whose base URL points here.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tollgate.core.errors import BadRequest, TollgateError, Unprocessable
from tollgate.gateway.call import GatewayCall
from tollgate.gateway.prepare import forwardable_headers
from tollgate.providers.base import Operation
from tollgate.providers.chat_requests import NativeRequest, vertex_request
from tollgate.providers.registry import (
    PUBLIC_HOSTS,
    ProviderSpec,
    bedrock_converse_path,
    bedrock_model_from_path,
    detect_operation,
    gemini_model_from_path,
    model_in_path,
    passthrough_path,
    resolve_provider,
    streams_by_path,
)
from tollgate.routes.doors import fail, header_tags, new_call, outcome_response, run
from tollgate.routes.errors import family_error, proxy_error
from tollgate.routes.http import bearer_or_key, parse_json_object, read_body
from tollgate.routes.wiring import gateway_of, settings_of

_REQUIRED = "provider and payload are required."


def _model_in_url(spec: ProviderSpec, model: str, payload: dict[str, Any], stream: bool) -> NativeRequest:
    """Gemini, Vertex AI and Bedrock name the model, and say whether to stream, in the URL."""
    if spec.family == "vertex":  # Claude's body at :rawPredict, any other model's at :generateContent
        return vertex_request(model, payload, stream=stream)
    body = {k: v for k, v in payload.items() if k not in ("model", "stream")}
    if spec.family == "bedrock":  # Converse
        return NativeRequest(bedrock_converse_path(model, stream=stream), "", Operation.CONVERSE, body)
    action = "streamGenerateContent" if stream else "generateContent"
    query = "alt=sse" if stream else ""
    return NativeRequest(f"v1beta/models/{model}:{action}", query, Operation.GENERATE, body)


def _envelope_target(spec: ProviderSpec, payload: dict[str, Any]) -> tuple[NativeRequest, str, bool]:
    """(the native request, model, stream) for an envelope payload: the payload is the provider's
    own body; only what the provider takes in the URL moves there."""
    stream = payload.get("stream") is True
    if spec.family in ("gemini", "vertex", "bedrock"):
        model = payload.get("model")
        if not isinstance(model, str) or not model:
            raise BadRequest(f"payload.model is required for {spec.id}", code="invalid_payload")
        return _model_in_url(spec, model, payload, stream), model, stream
    model = str(payload.get("model") or "")
    if spec.family == "anthropic":
        path, operation = "v1/messages", Operation.MESSAGES
    elif spec.family == "cohere":
        path, operation = "v2/chat", Operation.CHAT
    elif "messages" not in payload and "input" in payload:
        if "embedding" in model:
            return NativeRequest("embeddings", "", Operation.EMBEDDINGS, payload), model, False
        path, operation = "responses", Operation.RESPONSES
    else:
        path, operation = "chat/completions", Operation.CHAT
    return NativeRequest(path, "", operation, payload), model, stream


def _endpoint_form(body: dict[str, Any]) -> tuple[ProviderSpec, str, dict[str, Any]]:
    """Seed 003: ``{endpoint: "https://api.openai.com/v1/chat/completions", model, messages, ...}``."""
    endpoint = body.pop("endpoint")
    if not isinstance(endpoint, str):
        raise BadRequest("endpoint must be a URL string", code="invalid_endpoint")
    parts = urlsplit(endpoint)
    provider = PUBLIC_HOSTS.get(parts.hostname or "")
    spec = resolve_provider(provider) if provider else None
    if spec is None:
        raise Unprocessable(
            f"endpoint host {parts.hostname!r} is not a supported provider", code="provider_not_supported"
        )
    return spec, passthrough_path(spec, parts.path.lstrip("/")), body


def _envelope(body: dict[str, Any]) -> tuple[ProviderSpec, dict[str, Any]]:
    """Seed 000: ``{provider, payload}``."""
    provider, payload = body.get("provider"), body.get("payload")
    if not isinstance(provider, str) or not provider or not isinstance(payload, dict):
        raise BadRequest(_REQUIRED, code="missing_fields")
    spec = resolve_provider(provider)
    if spec is None:
        raise Unprocessable(f"Unsupported provider: {provider}.", code="provider_not_supported")
    return spec, payload


async def envelope(request: Request) -> Response:
    gateway = gateway_of(request)
    started = gateway.now()
    try:
        key = await gateway.authenticate(bearer_or_key(request), "proxy")
    except TollgateError as exc:
        return proxy_error(exc)
    call = new_call(gateway, request, door="proxy", key=key, started=started)
    try:
        body = parse_json_object(await read_body(request, settings_of(request).max_body_bytes))
        meta = body.pop("_meta", None)
        endpoint_form = "endpoint" in body and "payload" not in body
        if endpoint_form:
            spec, path, payload = _endpoint_form(body)
            operation = detect_operation(spec, "POST", path)
            model = str(payload.get("model") or gemini_model_from_path(path) or "")
            stream = payload.get("stream") is True or ":streamGenerateContent" in path
            path, _, query = path.partition("?")
        else:
            spec, payload = _envelope(body)
            native, model, stream = _envelope_target(spec, payload)
            path, query, operation, payload = native.path, native.query, native.operation, native.body
    except TollgateError as exc:
        return fail(gateway, call, exc, proxy_error)
    call.spec, call.path, call.query, call.operation, call.model = spec, path, query, operation, model
    call.body, call.stream, call.provider_path = payload, stream, endpoint_form
    call.tags = header_tags(request, meta)
    outcome = await run(gateway, call, proxy_error)
    if isinstance(outcome, Response):
        return outcome
    extra: list[tuple[str, str]] = []
    if endpoint_form and outcome.record is not None:
        # Seed 003 clients read these names.
        cost = next((v for k, v in outcome.headers if k == "x-tollgate-cost"), "")
        extra = [
            ("x-costllm-cost", cost),
            ("x-costllm-tokens", str(outcome.record.total_tokens)),
            ("x-costllm-cached", "false"),
        ]
    return outcome_response(outcome, extra=extra)


def _passthrough_call(request: Request, call: GatewayCall, spec: ProviderSpec, raw: bytes) -> None:
    path = passthrough_path(spec, request.path_params["path"])
    operation = detect_operation(spec, request.method, path)
    body: dict[str, Any] | None = None
    model = ""
    stream = False
    if raw and operation is not Operation.OTHER:
        body = parse_json_object(raw)
        model = str(body.get("model") or "")
        stream = body.get("stream") is True
    if spec.family in ("gemini", "vertex"):
        model = model_in_path(path) or model
        stream = streams_by_path(path)
    if spec.family == "bedrock":  # Converse and invoke: the model and the streaming are in the path
        model = bedrock_model_from_path(path) or model
        stream = path.endswith(("/converse-stream", "/invoke-with-response-stream"))
    call.spec, call.path, call.query, call.operation = spec, path, request.url.query, operation
    # A Vertex path may lack the project (google-genai's express mode): route_path fills it in.
    call.model, call.stream, call.provider_path = model, stream, spec.family != "vertex"
    call.forward_headers = _forwardable(request)
    # Forward the client's bytes untouched unless the pipeline must edit them.
    if body is not None and stream and spec.family == "openai" and operation is Operation.CHAT:
        call.body = body
    else:
        call.raw_body = raw if raw else None
    call.tags = header_tags(request)


def _forwardable(request: Request) -> list[tuple[str, str]]:
    return forwardable_headers((k.decode("latin-1"), v.decode("latin-1")) for k, v in request.headers.raw)


async def passthrough(request: Request) -> Response:
    gateway = gateway_of(request)
    started = gateway.now()
    spec = resolve_provider(request.path_params["provider"])
    render = family_error(spec.family if spec else "openai")
    try:
        key = await gateway.authenticate(bearer_or_key(request), "proxy")
    except TollgateError as exc:
        return render(exc)
    call = new_call(gateway, request, door="passthrough", key=key, started=started)
    try:
        if spec is None:
            raise Unprocessable(
                f"provider {request.path_params['provider']!r} is not supported",
                code="provider_not_supported",
            )
        raw = await read_body(request, settings_of(request).max_body_bytes)
        _passthrough_call(request, call, spec, raw)
    except TollgateError as exc:
        return fail(gateway, call, exc, render)
    outcome = await run(gateway, call, render)
    if isinstance(outcome, Response):
        return outcome
    return outcome_response(outcome)


routes = [
    Route("/api/proxy", envelope, methods=["POST"]),
    Route(
        "/api/proxy/{provider}/{path:path}",
        passthrough,
        methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
    ),
]
