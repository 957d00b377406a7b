"""What tollgate knows about each provider's HTTP surface: base URL, auth, paths.

``base_url`` follows each provider's own SDK convention (what you would pass as the SDK's
``base_url``): the OpenAI family includes its version segment (``…/v1``), Anthropic and
Gemini do not. A credential's ``config.baseUrl`` replaces it (regional endpoints, corporate
proxies, self-hosted servers, tests).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal
from urllib.parse import quote, unquote

from tollgate.providers.base import Operation
from tollgate.providers.sigv4 import bedrock_path

_BEDROCK_CLAUDE = re.compile(r"(?:[a-z]{2,6}\.)?anthropic\.claude.*")

# The wire format a provider speaks (what its requests, responses and streams look like).
Family = Literal["openai", "anthropic", "gemini", "cohere", "bedrock", "vertex"]
# How a request proves who it is: a static header from the credential's ``apiKey``, or a
# per-request signature (``aws-sigv4``) or short-lived token (``google-oauth``) made from its
# ``secrets``; ``gateway/authorize.py`` applies them.
AuthStyle = Literal["bearer", "x-api-key", "x-goog-api-key", "api-key", "aws-sigv4", "google-oauth"]


@dataclass(frozen=True, slots=True)
class ProviderSpec:
    id: str
    family: Family
    base_url: str
    auth: AuthStyle
    # Leading path segments a pass-through client may include that the base URL already holds
    # (``/api/proxy/openai/v1/chat/completions`` and ``/api/proxy/openai/chat/completions`` both work).
    strip_prefixes: tuple[str, ...] = ()
    # Plain model names that unambiguously belong to this provider.
    model_prefixes: tuple[str, ...] = ()
    requires_base_url: bool = False
    # The OpenAI-family provider sends usage in streams only when asked.
    usage_needs_stream_option: bool = True


_OPENAI_FAMILY: tuple[ProviderSpec, ...] = (
    ProviderSpec(
        "openai",
        "openai",
        "https://api.openai.com/v1",
        "bearer",
        ("v1/",),
        ("gpt-", "o1", "o3", "o4", "chatgpt-", "text-embedding-", "davinci", "babbage", "omni-"),
    ),
    ProviderSpec(
        "mistral",
        "openai",
        "https://api.mistral.ai/v1",
        "bearer",
        ("v1/",),
        (
            "mistral-",
            "open-mistral",
            "open-mixtral",
            "codestral",
            "pixtral",
            "ministral",
            "magistral",
            "devstral",
        ),
        usage_needs_stream_option=False,
    ),
    ProviderSpec("deepseek", "openai", "https://api.deepseek.com", "bearer", (), ("deepseek-",)),
    ProviderSpec("xai", "openai", "https://api.x.ai/v1", "bearer", ("v1/",), ("grok-",)),
    ProviderSpec(
        "openrouter",
        "openai",
        "https://openrouter.ai/api/v1",
        "bearer",
        ("api/v1/", "v1/"),
        usage_needs_stream_option=False,
    ),
    ProviderSpec("together", "openai", "https://api.together.xyz/v1", "bearer", ("v1/",)),
    ProviderSpec("perplexity", "openai", "https://api.perplexity.ai", "bearer", (), ("sonar",)),
    ProviderSpec("openai_compatible", "openai", "", "bearer", ("v1/",), requires_base_url=True),
    # Azure OpenAI: the base URL is ``{config.endpoint}/openai`` (see ``providers/endpoints.py``);
    # its config rules (endpoint or baseUrl required) are in ``services/credential_kinds.py``.
    ProviderSpec("azure_openai", "openai", "", "api-key", ("openai/",)),
)

PROVIDERS: Mapping[str, ProviderSpec] = {
    spec.id: spec
    for spec in (
        *_OPENAI_FAMILY,
        ProviderSpec("anthropic", "anthropic", "https://api.anthropic.com", "x-api-key", (), ("claude-",)),
        ProviderSpec(
            "gemini",
            "gemini",
            "https://generativelanguage.googleapis.com",
            "x-goog-api-key",
            (),
            ("gemini-",),
        ),
        ProviderSpec(
            "cohere",
            "cohere",
            "https://api.cohere.com",
            "bearer",
            (),
            ("command", "c4ai-", "embed-english", "embed-multilingual", "embed-v4", "rerank-"),
        ),
        # The host depends on ``config.region`` / ``config.location`` (``providers/endpoints.py``).
        ProviderSpec("aws_bedrock", "bedrock", "", "aws-sigv4"),
        ProviderSpec("google_vertex", "vertex", "", "google-oauth"),
    )
}

# Names clients use for a provider that tollgate files under another id.
ALIASES: Mapping[str, str] = {
    "google": "gemini",
    "openai-compatible": "openai_compatible",
    "x-ai": "xai",
    "azure": "azure_openai",
    "bedrock": "aws_bedrock",
    "vertex": "google_vertex",
    "vertex_ai": "google_vertex",
}


def resolve_provider(name: str) -> ProviderSpec | None:
    key = name.strip().lower()
    return PROVIDERS.get(ALIASES.get(key, key))


def provider_for_model(model: str) -> ProviderSpec | None:
    """The provider a plain model name unambiguously belongs to, if any."""
    lowered = model.lower()
    matches = [s for s in PROVIDERS.values() if any(lowered.startswith(p) for p in s.model_prefixes)]
    return matches[0] if len(matches) == 1 else None


def join_url(base_url: str, path: str) -> str:
    return base_url.rstrip("/") + "/" + path.lstrip("/")


def passthrough_path(spec: ProviderSpec, path: str) -> str:
    """Map a pass-through path onto the provider's base URL."""
    path = path.lstrip("/")
    for prefix in spec.strip_prefixes:
        if path.startswith(prefix):
            return path[len(prefix) :]
    if spec.family == "gemini" and path.startswith("models/"):
        return "v1beta/" + path  # SDKs whose base URL already ends in /v1beta
    if spec.family == "bedrock":
        return _bedrock_wire_path(path)
    return path


def _bedrock_wire_path(path: str) -> str:
    """A (decoded) Bedrock path encoded the way the AWS SDKs send it, which is what SigV4 signs:
    the model id is one segment (``:`` -> ``%3A``, an ARN's ``/`` -> ``%2F``)."""
    model = bedrock_model_from_path(path)
    if model is not None:
        return bedrock_path(model, path.strip("/").rpartition("/")[2]).lstrip("/")
    return "/".join(quote(unquote(segment), safe="-._~") for segment in path.split("/"))


def bedrock_converse_path(model: str, *, stream: bool) -> str:
    """``model/{id}/converse`` or ``…/converse-stream``, the id encoded as SigV4 signs it."""
    return bedrock_path(model, "converse-stream" if stream else "converse").lstrip("/")


def bedrock_invoke_path(model: str, *, stream: bool) -> str:
    """``model/{id}/invoke`` or ``…/invoke-with-response-stream`` (Claude's Anthropic-shaped body)."""
    return bedrock_path(model, "invoke-with-response-stream" if stream else "invoke").lstrip("/")


def is_bedrock_claude(model: str) -> bool:
    """A Bedrock id of Claude: ``anthropic.claude-…`` or an inference profile ``us.anthropic.claude-…``.
    (An ARN names no model family, so it is not recognised.)"""
    return _BEDROCK_CLAUDE.fullmatch(model.lower()) is not None


def bedrock_model_from_path(path: str) -> str | None:
    """``model/us.anthropic.claude-3-5-haiku-20241022-v1%3A0/converse`` -> the model id, decoded
    (an inference-profile id or an ARN as given); None when the path names no model."""
    tail = path.split("?", 1)[0].strip("/")
    if not tail.startswith("model/"):
        return None
    return unquote(tail[len("model/") :].rpartition("/")[0]) or None


def detect_operation(spec: ProviderSpec, method: str, path: str) -> Operation:
    """Which metered operation a request path is (path relative to the base URL)."""
    if method != "POST":
        return Operation.OTHER
    tail = path.split("?", 1)[0].rstrip("/")
    if spec.family == "anthropic":
        return Operation.MESSAGES if tail.endswith("v1/messages") else Operation.OTHER
    if spec.family == "bedrock":
        return _bedrock_operation(tail)
    if spec.family == "gemini":
        if tail.endswith((":generateContent", ":streamGenerateContent")):
            return Operation.GENERATE
        return Operation.OTHER
    if spec.family == "vertex":
        return _vertex_operation(tail)
    if spec.family == "cohere":  # v2 only: v1's usage lives elsewhere (``meta.billed_units``)
        if tail.endswith("v2/chat"):
            return Operation.CHAT
        return Operation.EMBEDDINGS if tail.endswith("v2/embed") else Operation.OTHER
    if tail.endswith("chat/completions"):
        return Operation.CHAT
    if tail.endswith("responses"):
        return Operation.RESPONSES
    if tail.endswith("embeddings"):
        return Operation.EMBEDDINGS
    return Operation.OTHER


def _bedrock_operation(tail: str) -> Operation:
    """Converse is metered for every model; ``/invoke`` only for Claude, whose body is Anthropic's."""
    if not tail.lstrip("/").startswith("model/"):
        return Operation.OTHER
    if tail.endswith(("/converse", "/converse-stream")):
        return Operation.CONVERSE
    if tail.endswith(("/invoke", "/invoke-with-response-stream")):
        model = bedrock_model_from_path(tail)
        return Operation.MESSAGES if model is not None and is_bedrock_claude(model) else Operation.OTHER
    return Operation.OTHER


def gemini_model_from_path(path: str) -> str | None:
    """``v1beta/models/gemini-2.5-flash:generateContent`` -> ``gemini-2.5-flash``."""
    marker = "models/"
    start = path.find(marker)
    if start < 0:
        return None
    rest = path[start + len(marker) :]
    model = rest.split(":", 1)[0].split("?", 1)[0]
    return model or None


# Vertex's token counting for Claude is a rawPredict on this pseudo-model (the model is in the body).
VERTEX_COUNT_TOKENS_MODEL = "count-tokens"


def _vertex_operation(tail: str) -> Operation:
    """Gemini on Vertex generates (``:generateContent``, ``:streamGenerateContent``); Claude on
    Vertex is a Messages call (``publishers/anthropic/models/{m}:rawPredict``, ``:streamRawPredict``).
    Token counting and other publishers' ``rawPredict`` bodies are not metered."""
    if tail.endswith((":generateContent", ":streamGenerateContent")):
        return Operation.GENERATE
    publisher, _, model = f"/{tail}".rpartition("/publishers/")[2].partition("/models/")
    model, _, action = model.partition(":")
    if (
        publisher == "anthropic"
        and action in ("rawPredict", "streamRawPredict")
        and model != VERTEX_COUNT_TOKENS_MODEL
    ):
        return Operation.MESSAGES
    return Operation.OTHER


def model_in_path(path: str) -> str | None:
    """The model a Gemini or Vertex path names: ``…/models/{model}:{method}`` -> ``{model}``
    (``v1beta/models/gemini-2.5-flash:generateContent``,
    ``v1/projects/p/locations/l/publishers/anthropic/models/claude-sonnet-4@20250514:rawPredict``).
    Vertex's ``count-tokens`` pseudo-model is no model."""
    model = gemini_model_from_path(path)
    return None if model == VERTEX_COUNT_TOKENS_MODEL else model


def streams_by_path(path: str) -> bool:
    """Whether a Gemini or Vertex method streams (the method, not the body, says so there)."""
    method = path.split("?", 1)[0].rpartition(":")[2]
    return method in ("streamGenerateContent", "streamRawPredict")


def auth_headers(spec: ProviderSpec, api_key: str) -> list[tuple[str, str]]:
    """The header an ``apiKey`` credential sends (Bedrock API keys and the like are Bearer)."""
    if spec.auth == "x-api-key":
        return [("x-api-key", api_key)]
    if spec.auth == "x-goog-api-key":
        return [("x-goog-api-key", api_key)]
    if spec.auth == "api-key":
        return [("api-key", api_key)]
    return [("authorization", f"Bearer {api_key}")]


ANTHROPIC_DEFAULT_VERSION = "2023-06-01"

# Stands in for the provider of a call that failed before its provider was known.
UNKNOWN = ProviderSpec("unknown", "openai", "", "bearer")

# Hosts of the providers' public APIs, for clients that name a full endpoint URL (seed 003).
PUBLIC_HOSTS: Mapping[str, str] = {
    "api.openai.com": "openai",
    "api.anthropic.com": "anthropic",
    "generativelanguage.googleapis.com": "gemini",
    "api.mistral.ai": "mistral",
    "api.deepseek.com": "deepseek",
    "api.x.ai": "xai",
    "openrouter.ai": "openrouter",
    "api.together.xyz": "together",
    "api.together.ai": "together",
    "api.perplexity.ai": "perplexity",
    "api.cohere.com": "cohere",
    "api.cohere.ai": "cohere",
}
