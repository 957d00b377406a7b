"""OpenAI-compatible door: ``/v1/chat/completions``, ``/v1/responses``, ``/v1/embeddings``,
``/v1/models``, also under ``/v1/openai/``. The official ``openai`` SDK works with
``base_url=<server>/v1`` and a gateway key.

``model`` may be ``<provider>/<model>`` or a plain name that belongs to one provider; plain
names that belong to none go to ``openai``. This door serves the OpenAI-compatible family.
"""

from __future__ import annotations

import time
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tollgate.core.errors import BadRequest, TollgateError
from tollgate.providers.base import Operation
from tollgate.providers.registry import PROVIDERS, ProviderSpec, provider_for_model, resolve_provider
from tollgate.routes.compat import compat_door
from tollgate.routes.errors import openai_error
from tollgate.routes.http import bearer_or_key, json_response
from tollgate.routes.wiring import context_of


def resolve_openai_model(body: dict[str, Any], model: str) -> tuple[ProviderSpec, str]:
    prefix, slash, rest = model.partition("/")
    spec = resolve_provider(prefix) if slash else None
    if spec is None:
        spec = provider_for_model(model) or PROVIDERS["openai"]
        rest = model
    if spec.family != "openai":
        raise BadRequest(
            f"model {model!r} belongs to {spec.id}, which this door reaches only through translation; "
            f"call {spec.id} through its own door or /v1/chat",
            code="translation_not_supported",
        )
    return spec, rest


def _door(path: str, operation: Operation) -> Any:
    async def endpoint(request: Request) -> Response:
        return await compat_door(
            request,
            door="openai",
            path=path,
            operation=operation,
            resolve=resolve_openai_model,
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
        Route(f"{prefix}/chat/completions", _door("chat/completions", Operation.CHAT), methods=["POST"]),
        Route(f"{prefix}/responses", _door("responses", Operation.RESPONSES), methods=["POST"]),
        Route(f"{prefix}/embeddings", _door("embeddings", Operation.EMBEDDINGS), methods=["POST"]),
        Route(f"{prefix}/models", list_models, methods=["GET"]),
    )
]
