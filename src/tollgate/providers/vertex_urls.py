"""Vertex AI URLs and the Claude-on-Vertex body (PROVIDERS.md A.5). Pure functions, no I/O.

Hosts: ``{location}-aiplatform.googleapis.com`` for a region, ``aiplatform.googleapis.com`` for
``global``, ``aiplatform.{us|eu}.rep.googleapis.com`` for the multi-regions. ``endpointUrl`` replaces
the host (a private endpoint, or the simulator); the path below it is always the same:

    /v1/projects/{p}/locations/{l}/publishers/google/models/{m}:generateContent
    /v1/projects/{p}/locations/{l}/publishers/google/models/{m}:streamGenerateContent?alt=sse
    /v1/projects/{p}/locations/{l}/publishers/anthropic/models/{m}:rawPredict | :streamRawPredict
    /v1/projects/{p}/locations/{l}/publishers/anthropic/models/count-tokens:rawPredict

Doors build ``publishers/...`` paths (``publisher_path``); ``resource_path`` puts them, and the
project-less paths of the google-genai SDK's express mode, under the credential's project and location.

Every value that lands in the path is checked against a strict character set first, so a config or
model name can never add a path segment, a query or a fragment. ``secure_url`` is the rule for every
URL a token or an assertion is sent to (``endpointUrl``, ``tokenUri``).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from tollgate.core.errors import BadRequest

VERTEX_ANTHROPIC_VERSION = "vertex-2023-10-16"
MULTI_REGIONS = frozenset({"us", "eu"})
API_VERSIONS = frozenset({"v1", "v1beta1"})

# Project ids are 6-30 lowercase characters; numbers and legacy "example.com:proj" ids also work.
_PROJECT = re.compile(r"[a-z0-9](?:[a-z0-9.:-]{0,61}[a-z0-9])?")
_LOCATION = re.compile(r"[a-z][a-z0-9-]{0,62}")
# Claude on Vertex names versions with "@" (claude-sonnet-4@20250514).
_MODEL = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,127}")


@dataclass(frozen=True, slots=True)
class VertexConfig:
    project_id: str
    location: str
    endpoint_url: str | None = None  # scheme://host[:port][/prefix], no trailing slash


def _invalid(message: str, field_name: str) -> BadRequest:
    return BadRequest(message, code="invalid_config", details={"field": field_name})


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def secure_url(value: object, field_name: str) -> str:
    """``config.{field_name}`` as a URL that a token or an assertion may be sent to, or
    ``400 invalid_config``: https with a host, no query, fragment or user info. Plain http only
    for a loopback host (the simulator, local test doubles): tokens never cross a network
    unencrypted. Returns the URL stripped of surrounding whitespace."""
    if not isinstance(value, str) or not value.strip():
        raise _invalid(f"config.{field_name} must be a URL string", field_name)
    url = value.strip()
    invalid = _invalid(
        f"config.{field_name} must be an https URL with a host and no query (http only for localhost)",
        field_name,
    )
    if any(c.isspace() or not c.isprintable() for c in url):
        raise invalid
    try:
        parts = urlsplit(url)
        host = parts.hostname
        _ = parts.port  # raises on a malformed port
    except ValueError as exc:
        raise invalid from exc
    if not host or parts.query or parts.fragment or parts.username or parts.password:
        raise invalid
    if parts.scheme != "https" and not (parts.scheme == "http" and _loopback(host)):
        raise invalid
    return url


def _endpoint(value: object) -> str:
    return secure_url(value, "endpointUrl").rstrip("/")


def vertex_config(config: Mapping[str, Any]) -> VertexConfig:
    """The URL-relevant part of a ``google_vertex`` credential's config, or ``400 invalid_config``."""
    project = config.get("projectId")
    if not isinstance(project, str) or not _PROJECT.fullmatch(project):
        raise _invalid(
            "config.projectId must be a Google Cloud project id (lowercase letters, digits, hyphens)",
            "projectId",
        )
    location = config.get("location")
    if not isinstance(location, str) or not _LOCATION.fullmatch(location):
        raise _invalid(
            "config.location must be a Vertex AI location such as us-central1, europe-west4, us, eu "
            "or global",
            "location",
        )
    endpoint = config.get("endpointUrl")
    return VertexConfig(project, location, None if endpoint is None else _endpoint(endpoint))


def vertex_host(location: str) -> str:
    if location == "global":
        return "aiplatform.googleapis.com"
    if location in MULTI_REGIONS:
        return f"aiplatform.{location}.rep.googleapis.com"
    return f"{location}-aiplatform.googleapis.com"


def vertex_origin(config: VertexConfig) -> str:
    return config.endpoint_url or f"https://{vertex_host(config.location)}"


def _checked_model(model: str) -> str:
    if not _MODEL.fullmatch(model):
        raise BadRequest(
            "the model name may only hold letters, digits and . _ @ -",
            code="invalid_model",
            details={"field": "model"},
        )
    return model


def _publisher_url(config: VertexConfig, publisher: str, model: str, action: str, version: str) -> str:
    if version not in API_VERSIONS:
        raise ValueError(f"unknown Vertex API version {version!r}")
    return (
        f"{vertex_origin(config)}/{version}/projects/{config.project_id}/locations/{config.location}"
        f"/publishers/{publisher}/models/{_checked_model(model)}:{action}"
    )


def publisher_path(publisher: str, model: str, action: str) -> str:
    """``publishers/{publisher}/models/{model}:{action}``, the form doors build; ``resource_path``
    puts it under the credential's project and location."""
    return f"publishers/{publisher}/models/{_checked_model(model)}:{action}"


def resource_path(config: VertexConfig, path: str) -> str:
    """A request path (relative to the origin) in Vertex's layout.

    - ``{v1|v1beta1}/projects/...``: a pass-through client's whole path, kept as it is.
    - ``{v1|v1beta1}/publishers/{p}/models/{m}:{action}``: a model method without a project (the
      google-genai SDK in express mode); the credential's project and location go after the
      version. Other ``publishers/`` paths (the model garden's lists) need no project: kept.
    - anything else (a door-built ``publishers/...`` path): under ``v1/projects/{p}/locations/{l}``.
    """
    scope = f"projects/{config.project_id}/locations/{config.location}"
    version, slash, rest = path.partition("/")
    if not slash or version not in API_VERSIONS:
        return f"v1/{scope}/{path}"
    if rest.startswith("publishers/") and ":" in rest.rsplit("/", 1)[-1]:
        return f"{version}/{scope}/{rest}"
    return path


def gemini_url(config: VertexConfig, model: str, *, stream: bool, version: str = "v1") -> str:
    """``:generateContent``, or ``:streamGenerateContent?alt=sse`` (SSE, not a JSON array)."""
    if stream:
        return _publisher_url(config, "google", model, "streamGenerateContent", version) + "?alt=sse"
    return _publisher_url(config, "google", model, "generateContent", version)


def gemini_count_tokens_url(config: VertexConfig, model: str, *, version: str = "v1") -> str:
    return _publisher_url(config, "google", model, "countTokens", version)


def anthropic_url(config: VertexConfig, model: str, *, stream: bool, version: str = "v1") -> str:
    """``:rawPredict``, or ``:streamRawPredict`` (Anthropic-shaped SSE)."""
    return _publisher_url(config, "anthropic", model, "streamRawPredict" if stream else "rawPredict", version)


def anthropic_count_tokens_url(config: VertexConfig, *, version: str = "v1") -> str:
    """Token counting for Claude on Vertex: the model stays in the body here."""
    return _publisher_url(config, "anthropic", "count-tokens", "rawPredict", version)


def anthropic_body_for_vertex(body: Mapping[str, Any], version: str | None = None) -> dict[str, Any]:
    """The Anthropic Messages body as Vertex takes it: ``model`` moves to the URL and
    ``anthropic_version`` goes in the body (an explicit ``version`` wins, then the body's own,
    then ``vertex-2023-10-16``). The input is not modified."""
    out = {k: v for k, v in body.items() if k != "model"}
    if version is not None:
        out["anthropic_version"] = version
    elif not isinstance(out.get("anthropic_version"), str) or not out["anthropic_version"]:
        out["anthropic_version"] = VERTEX_ANTHROPIC_VERSION
    return out
