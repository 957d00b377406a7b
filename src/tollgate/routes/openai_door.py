"""OpenAI-compatible door: ``/v1/chat/completions``, ``/v1/responses``, ``/v1/embeddings``,
``/v1/models``, also under ``/v1/openai/``. The official ``openai`` SDK works with
``base_url=<server>/v1`` and a gateway key.

``model`` may be ``<provider>/<model>`` or a plain name that belongs to one provider; plain
names that belong to none go to ``openai``. Chat completions reach every provider: the
OpenAI-compatible family natively, the others translated both ways through the hub (streams
included). Responses and embeddings serve the OpenAI-compatible family only.
"""

from __future__ import annotations

import time
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tollgate.core.errors import BadRequest, TollgateError
from tollgate.providers.base import Operation
from tollgate.providers.registry import PROVIDERS, ProviderSpec
from tollgate.routes.compat import Incoming, Plan, Router, compat_door, native, resolve_model, through_hub
from tollgate.routes.errors import openai_error
from tollgate.routes.http import bearer_or_key, json_response
from tollgate.routes.translated import OpenAIDoor
from tollgate.routes.wiring import context_of


def resolve_openai_model(body: dict[str, Any], model: str) -> tuple[ProviderSpec, str]:
    return resolve_model(model, PROVIDERS["openai"])


def route_chat(incoming: Incoming) -> Plan:
    if incoming.spec.family == "openai":
        return native("chat/completions", Operation.CHAT)(incoming)
    return through_hub(OpenAIDoor(), incoming)


def openai_family_only(path: str, operation: Operation) -> Router:
    forward = native(path, operation)

    def route(incoming: Incoming) -> Plan:
        if incoming.spec.family != "openai":
            raise BadRequest(
                f"/v1/{path} serves OpenAI-compatible providers only, and model "
                f"{incoming.model!r} belongs to {incoming.spec.id}; "
                f"call it through /v1/chat/completions instead",
                code="translation_not_supported",
            )
        return forward(incoming)

    return route


def _door(operation: Operation, route: Router) -> Any:
    async def endpoint(request: Request) -> Response:
        return await compat_door(
            request,
            door="openai",
            operation=operation,
            resolve=resolve_openai_model,
            route=route,
            render=openai_error,
        )

    return endpoint


async def list_models(request: Request) -> Response:
    """Models the workspace can call: the priced models of every provider it holds a credential for."""
    ctx = context_of(request)
    try:
        key = await ctx.gateway.authenticate(bearer_or_key(request), "proxy")
    except TollgateError as exc:
        return openai_error(exc)
    providers = ctx.state.providers_for(key.workspace_id)
    created = int(time.time())
    data = [
        {"id": model_id, "object": "model", "created": created, "owned_by": provider}
        for provider in sorted(providers)
        for model_id in ctx.prices.models(provider)
    ]
    return json_response({"object": "list", "data": data})


routes = [
    route
    for prefix in ("/v1", "/v1/openai")
    for route in (
        Route(f"{prefix}/chat/completions", _door(Operation.CHAT, route_chat), methods=["POST"]),
        Route(
            f"{prefix}/responses",
            _door(Operation.RESPONSES, openai_family_only("responses", Operation.RESPONSES)),
            methods=["POST"],
        ),
        Route(
            f"{prefix}/embeddings",
            _door(Operation.EMBEDDINGS, openai_family_only("embeddings", Operation.EMBEDDINGS)),
            methods=["POST"],
        ),
        Route(f"{prefix}/models", list_models, methods=["GET"]),
    )
]
