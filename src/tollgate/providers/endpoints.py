"""Where a call goes: the base URL a credential's config selects, and the path layout of
providers whose URLs carry deployment details (PROVIDERS.md A.5-A.7).

Doors build paths in each family's canonical form, relative to the base URL: ``chat/completions``,
``v1/messages``, ``v2/chat``, ``model/{id}/converse``, ``publishers/google/models/{m}:generateContent``.
``route_path`` turns such a path into the provider's layout (an Azure deployment and
``api-version``; the Vertex project and location). Pass-through paths are the client's own and are
used as given.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from tollgate.providers.registry import ProviderSpec
from tollgate.providers.vertex_urls import resource_path, vertex_config, vertex_origin

AZURE_SUFFIXES = ("/openai/v1", "/openai")


def base_url(spec: ProviderSpec, config: Mapping[str, Any]) -> str:
    """The root a credential's calls go to; ``config.baseUrl`` replaces any default."""
    explicit = config.get("baseUrl")
    if spec.id == "azure_openai":
        root = str(explicit or config.get("endpoint") or "").rstrip("/")
        for suffix in AZURE_SUFFIXES:
            if root.endswith(suffix):
                root = root[: -len(suffix)]
                break
        return f"{root}/openai"
    if explicit:
        return str(explicit)
    if spec.id == "aws_bedrock":
        return f"https://bedrock-runtime.{config.get('region', '')}.amazonaws.com"
    if spec.id == "google_vertex":
        return vertex_origin(vertex_config(config))
    return spec.base_url


def route_path(
    spec: ProviderSpec, config: Mapping[str, Any], path: str, query: str, model: str
) -> tuple[str, str]:
    """A door-built path (and query) in the provider's own layout."""
    if spec.id == "azure_openai":
        version = config.get("apiVersion")
        if not version:
            return f"v1/{path}", query  # the v1 API: the deployment is the body's model
        deployment = quote(str(config.get("deployment") or model), safe="")
        extra = f"api-version={quote(str(version), safe='')}"
        return f"deployments/{deployment}/{path}", f"{query}&{extra}" if query else extra
    if spec.id == "google_vertex":
        return resource_path(vertex_config(config), path), query
    return path, query
