"""Anthropic-compatible door: ``/v1/messages`` and ``/v1/anthropic/messages``.

The official ``anthropic`` SDK works with ``base_url=<server>`` and a gateway key (sent as
``Authorization: Bearer`` by SDK 2.x, ``x-api-key`` by older ones: both are accepted).
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tollgate.core.errors import BadRequest
from tollgate.providers.base import Operation
from tollgate.providers.registry import PROVIDERS, ProviderSpec
from tollgate.routes.compat import compat_door
from tollgate.routes.errors import anthropic_error


def resolve_anthropic_model(body: dict[str, Any], model: str) -> tuple[ProviderSpec, str]:
    prefix, slash, rest = model.partition("/")
    if slash and prefix != "anthropic":
        raise BadRequest(
            f"model {model!r} is not an Anthropic model; this door serves anthropic",
            code="translation_not_supported",
        )
    return PROVIDERS["anthropic"], rest if slash else model


async def messages(request: Request) -> Response:
    return await compat_door(
        request,
        door="anthropic",
        path="v1/messages",
        operation=Operation.MESSAGES,
        resolve=resolve_anthropic_model,
        render=anthropic_error,
    )


async def count_tokens(request: Request) -> Response:
    """Anthropic's token counter (``client.messages.count_tokens``): forwarded, spends nothing."""
    return await compat_door(
        request,
        door="anthropic",
        path="v1/messages/count_tokens",
        operation=Operation.OTHER,
        resolve=resolve_anthropic_model,
        render=anthropic_error,
    )


routes = [
    Route("/v1/messages", messages, methods=["POST"]),
    Route("/v1/anthropic/messages", messages, methods=["POST"]),
    Route("/v1/messages/count_tokens", count_tokens, methods=["POST"]),
    Route("/v1/anthropic/messages/count_tokens", count_tokens, methods=["POST"]),
]
