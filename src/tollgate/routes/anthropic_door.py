"""Anthropic-compatible door: ``/v1/messages`` and ``/v1/anthropic/messages``.

The official ``anthropic`` SDK works with ``base_url=<server>`` and a gateway key (sent as
``Authorization: Bearer`` by SDK 2.x, ``x-api-key`` by older ones: both are accepted).

``model`` may be ``<provider>/<model>`` or a plain name that belongs to one provider; plain
names that belong to none (and every ``claude-*``) go to ``anthropic``. Anthropic, Claude on
Vertex (``rawPredict``) and Claude on Bedrock (``InvokeModel``: ``bedrock_invoke``) are served
natively, their answers being Anthropic-shaped; Bedrock's streams arrive as AWS event-stream
``chunk`` frames and go to the client as Anthropic SSE, its error answers in Anthropic's shape.
Every other provider (Bedrock's other models included, through Converse) is translated both ways
through the hub, streams included.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tollgate.core.errors import BadRequest
from tollgate.providers.base import Operation
from tollgate.providers.bedrock_invoke import InvokeAsAnthropicSse, anthropic_body_for_bedrock
from tollgate.providers.registry import PROVIDERS, ProviderSpec, bedrock_invoke_path, is_bedrock_claude
from tollgate.providers.translate.targets import is_claude, vertex_claude_path
from tollgate.providers.vertex_urls import anthropic_body_for_vertex
from tollgate.routes.compat import Incoming, Plan, Router, compat_door, native, resolve_model, through_hub
from tollgate.routes.errors import anthropic_error
from tollgate.routes.translated import AnthropicDoor


def resolve_anthropic_model(body: dict[str, Any], model: str) -> tuple[ProviderSpec, str]:
    return resolve_model(model, PROVIDERS["anthropic"])


def route_messages(incoming: Incoming) -> Plan:
    spec, model = incoming.spec, incoming.model
    if spec.family == "anthropic":
        return native("v1/messages", Operation.MESSAGES)(incoming)
    if spec.family == "vertex" and is_claude(model):
        stream = incoming.body.get("stream") is True
        body = anthropic_body_for_vertex(incoming.body)
        return Plan(vertex_claude_path(model, stream=stream), Operation.MESSAGES, body, stream)
    if spec.family == "bedrock" and is_bedrock_claude(model):
        stream = incoming.body.get("stream") is True
        body = anthropic_body_for_bedrock(incoming.body)
        translator = InvokeAsAnthropicSse() if stream else None
        path = bedrock_invoke_path(model, stream=stream)
        return Plan(path, Operation.MESSAGES, body, stream, translator=translator, foreign=True)
    return through_hub(AnthropicDoor(), incoming)


def _anthropic_only(route: Router) -> Router:
    def only(incoming: Incoming) -> Plan:
        if incoming.spec.family != "anthropic":
            raise BadRequest(
                f"token counting serves Anthropic models only, and model {incoming.model!r} "
                f"belongs to {incoming.spec.id}",
                code="translation_not_supported",
            )
        return route(incoming)

    return only


async def messages(request: Request) -> Response:
    return await compat_door(
        request,
        door="anthropic",
        operation=Operation.MESSAGES,
        resolve=resolve_anthropic_model,
        route=route_messages,
        render=anthropic_error,
    )


async def count_tokens(request: Request) -> Response:
    """Anthropic's token counter (``client.messages.count_tokens``): forwarded, spends nothing."""
    return await compat_door(
        request,
        door="anthropic",
        operation=Operation.OTHER,
        resolve=resolve_anthropic_model,
        route=_anthropic_only(native("v1/messages/count_tokens", Operation.OTHER)),
        render=anthropic_error,
    )


routes = [
    Route("/v1/messages", messages, methods=["POST"]),
    Route("/v1/anthropic/messages", messages, methods=["POST"]),
    Route("/v1/messages/count_tokens", count_tokens, methods=["POST"]),
    Route("/v1/anthropic/messages/count_tokens", count_tokens, methods=["POST"]),
]
