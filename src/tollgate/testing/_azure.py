"""Azure OpenAI (PROVIDERS.md A.7): deployment URLs with ``api-version``, the v1 API, ``api-key``.

A resource is served under ``/azure``: ``/azure/openai/deployments/{deployment}/chat/completions
?api-version=…`` (the classic API: the deployment picks the model, a body ``model`` is ignored) and
``/azure/openai/v1/chat/completions`` (the v1 API: ``model`` names the deployment). Bodies are
OpenAI's plus the content-filter fields; a stream opens with a chunk whose ``choices`` is empty.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from functools import partial
from types import MappingProxyType
from urllib.parse import parse_qs

from tollgate.testing._chat import chat_handler
from tollgate.testing._embeddings import embeddings_handler, models_handler
from tollgate.testing._errors import ErrorStyle, error_reply
from tollgate.testing._flavors import AZURE
from tollgate.testing._types import Call, Handler, Reply, StreamPlan

# The deployments the simulated resource has, and the model each one runs.
DEPLOYMENTS: Mapping[str, str] = MappingProxyType(
    {
        "gpt-4o-mini": "gpt-4o-mini",
        "gpt-4o": "gpt-4o",
        "gpt-4.1-mini": "gpt-4.1-mini",
        "prod-chat": "gpt-4o-mini",
        "text-embedding-3-small": "text-embedding-3-small",
    }
)

_chat = chat_handler(AZURE)
_embeddings = embeddings_handler(ErrorStyle.OPENAI)
_models = models_handler(tuple(DEPLOYMENTS.values()), "system")


def _not_found() -> Reply:
    return error_reply(
        ErrorStyle.OPENAI,
        404,
        "The API deployment for this resource does not exist. If you created the deployment within "
        "the last 5 minutes, please wait a moment and try again.",
        code="DeploymentNotFound",
    )


def _with_model(call: Call, deployment: str, inner: Handler) -> Reply | StreamPlan:
    model = DEPLOYMENTS.get(deployment)
    if model is None:
        return _not_found()
    body = {**call.body, "model": model}
    return inner(replace(call, request=replace(call.request, json=body)))


def _classic(call: Call, deployment: str, inner: Handler) -> Reply | StreamPlan:
    if not parse_qs(call.request.query_string).get("api-version"):
        return error_reply(ErrorStyle.OPENAI, 404, "Resource not found", code="404")
    return _with_model(call, deployment, inner)


def _v1(call: Call, inner: Handler) -> Reply | StreamPlan:
    model = call.body.get("model")
    return _with_model(call, model if isinstance(model, str) else "", inner)


_OPERATIONS: Mapping[str, Handler] = MappingProxyType({"chat/completions": _chat, "embeddings": _embeddings})


def azure_route(method: str, rest: str) -> Handler | None:
    """Resolve ``rest`` (the path after ``/azure``) to a handler."""
    path = rest.strip("/")
    if method == "GET" and path == "openai/v1/models":
        return _models
    if method != "POST":
        return None
    if path.startswith("openai/v1/"):
        inner = _OPERATIONS.get(path.removeprefix("openai/v1/"))
        return None if inner is None else partial(_v1, inner=inner)
    parts = path.split("/", 3)
    if len(parts) == 4 and parts[:2] == ["openai", "deployments"]:
        inner = _OPERATIONS.get(parts[3])
        return None if inner is None else partial(_classic, deployment=parts[2], inner=inner)
    return None
