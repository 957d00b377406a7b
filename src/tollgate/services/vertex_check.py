"""What ``POST /v1/provider-credentials/{id}/test`` does for a ``google_vertex`` credential.

The cheapest real check: sending the probe makes the ``Authorizer`` exchange the service account's
signed assertion for an access token (a refusal there is Google refusing the key, explained by
``VertexAuthError``), then the probe itself counts the tokens of one word for ``config.defaultModel``
(free on Vertex AI), which proves the project, the location, the model and the account's permission
on them. Nothing here carries a secret: the reasons name config fields, never a key or a token.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tollgate.core import jsonx
from tollgate.gateway.upstream import UpstreamRequest
from tollgate.providers.vertex_urls import (
    VERTEX_ANTHROPIC_VERSION,
    anthropic_count_tokens_url,
    gemini_count_tokens_url,
    vertex_config,
)
from tollgate.services.credentials_base import ResolvedCredential

_PROBE_TEXT = "ping"


def vertex_probe(credential: ResolvedCredential) -> UpstreamRequest:
    """``countTokens`` for Gemini, ``count-tokens:rawPredict`` for a Claude ``defaultModel``.
    The access token is added when it is sent. Raises ``400`` for a model name unfit for a URL."""
    config = credential.config
    vertex = vertex_config(config)
    model = str(config.get("defaultModel") or "")
    body: dict[str, Any]
    if model.lower().startswith("claude"):
        url = anthropic_count_tokens_url(vertex)
        body = {
            "anthropic_version": VERTEX_ANTHROPIC_VERSION,
            "model": model,
            "messages": [{"role": "user", "content": _PROBE_TEXT}],
        }
    else:
        url = gemini_count_tokens_url(vertex, model)
        body = {"contents": [{"role": "user", "parts": [{"text": _PROBE_TEXT}]}]}
    return UpstreamRequest("POST", url, [("content-type", "application/json")], jsonx.dumps(body))


def vertex_reason(config: Mapping[str, Any], status: int) -> str | None:
    """Why the probe failed, in terms of the credential's config; None for an answer with nothing
    Vertex-specific to say (rate limits, outages)."""
    project, location = config.get("projectId"), config.get("location")
    model = config.get("defaultModel")
    if status == 403:
        return (
            f"Vertex AI refused the service account in project {project!r}: check config.projectId, "
            "that the account has the Vertex AI User role there, and that the Vertex AI API is enabled"
        )
    if status == 404:
        return (
            f"Vertex AI has no model {model!r} in project {project!r}, location {location!r}: check "
            "config.defaultModel, config.location and config.projectId"
        )
    if status == 400:
        return f"Vertex AI refused a token count for model {model!r}: check config.defaultModel"
    return None
