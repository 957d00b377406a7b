"""Which provider lives under which path prefix, what it serves, and how it authenticates.

One app serves every provider: a provider's base URL is ``{root}{base_path}``, where ``base_path`` is
what its SDK expects (the OpenAI family includes its version segment, Anthropic and Gemini do not).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from types import MappingProxyType
from urllib.parse import parse_qs

from tollgate.testing import _flavors
from tollgate.testing._anthropic import count_tokens, create_message
from tollgate.testing._azure import azure_route
from tollgate.testing._bedrock import bedrock_key, bedrock_route, bedrock_unauthorized
from tollgate.testing._chat import chat_handler
from tollgate.testing._cohere import chat as cohere_chat
from tollgate.testing._cohere import list_models as cohere_models
from tollgate.testing._embeddings import (
    ANTHROPIC_MODELS,
    anthropic_models_handler,
    embeddings_handler,
    models_handler,
    openrouter_key_info,
)
from tollgate.testing._errors import ErrorStyle, error_reply
from tollgate.testing._gemini import gemini_route
from tollgate.testing._responses import count_input_tokens, responses_handler
from tollgate.testing._types import Handler, ReceivedRequest, Reply
from tollgate.testing._vertex import TOKEN_PATH, VertexUpstream, form_assertion


class Auth(Enum):
    BEARER = "bearer"  # Authorization: Bearer <key>
    ANTHROPIC = "anthropic"  # x-api-key: <key>, or Authorization: Bearer <key> (SDK 2.x)
    GEMINI = "gemini"  # x-goog-api-key: <key>, or ?key=<key>
    OAUTH_ASSERTION = "oauth_assertion"  # an OAuth token endpoint: the form body's JWT assertion
    AWS = "aws"  # SigV4 (the key is its access key id, checked by the handler), or Bearer <key>
    AZURE = "azure"  # api-key: <key>, or Authorization: Bearer <key>


Resolver = Callable[[str, str], Handler | None]


@dataclass(frozen=True, slots=True)
class ProviderSpec:
    id: str
    segment: str  # the first path segment: /{segment}/...
    base_path: str  # what base_url() appends to the root
    auth: Auth
    errors: ErrorStyle
    resolve: Resolver  # (method, path after /{segment}) -> handler, or None for an unknown route


DEFAULT_MODELS = (
    "gpt-4o",
    "gpt-4o-mini",
    "gpt-4.1",
    "gpt-4.1-mini",
    "o4-mini",
    "text-embedding-3-small",
    "text-embedding-3-large",
)


def _table(routes: dict[tuple[str, str], Handler]) -> Resolver:
    frozen = MappingProxyType(routes)

    def resolve(method: str, rest: str) -> Handler | None:
        return frozen.get((method, rest))

    return resolve


def build_providers(
    models: Sequence[str] = DEFAULT_MODELS, vertex: VertexUpstream | None = None
) -> Mapping[str, ProviderSpec]:
    """The provider table, keyed by path segment. ``vertex`` holds Vertex AI's state (a fresh one
    when not given)."""
    bearer, openai_errors = Auth.BEARER, ErrorStyle.OPENAI
    specs = (
        ProviderSpec(
            "openai",
            "openai",
            "/openai/v1",
            bearer,
            openai_errors,
            _table(
                {
                    ("POST", "/v1/chat/completions"): chat_handler(_flavors.OPENAI),
                    ("POST", "/v1/responses"): responses_handler(obfuscation=True),
                    ("POST", "/v1/responses/input_tokens"): count_input_tokens,
                    ("POST", "/v1/embeddings"): embeddings_handler(openai_errors),
                    ("GET", "/v1/models"): models_handler(models, "openai"),
                }
            ),
        ),
        ProviderSpec(
            "anthropic",
            "anthropic",
            "/anthropic",
            Auth.ANTHROPIC,
            ErrorStyle.ANTHROPIC,
            _table(
                {
                    ("POST", "/v1/messages"): create_message,
                    ("POST", "/v1/messages/count_tokens"): count_tokens,
                    ("GET", "/v1/models"): anthropic_models_handler(ANTHROPIC_MODELS),
                }
            ),
        ),
        ProviderSpec("gemini", "gemini", "/gemini", Auth.GEMINI, ErrorStyle.GEMINI, gemini_route),
        ProviderSpec(
            "mistral",
            "mistral",
            "/mistral/v1",
            bearer,
            ErrorStyle.MISTRAL,
            _table(
                {
                    ("POST", "/v1/chat/completions"): chat_handler(_flavors.MISTRAL),
                    ("POST", "/v1/embeddings"): embeddings_handler(ErrorStyle.MISTRAL),
                    ("GET", "/v1/models"): models_handler(("mistral-small-latest",), "mistralai"),
                }
            ),
        ),
        ProviderSpec(
            "deepseek",
            "deepseek",
            "/deepseek",
            bearer,
            openai_errors,
            _table(
                {
                    ("POST", "/chat/completions"): chat_handler(_flavors.DEEPSEEK),
                    ("POST", "/v1/chat/completions"): chat_handler(_flavors.DEEPSEEK),
                    ("GET", "/models"): models_handler(("deepseek-chat", "deepseek-reasoner"), "deepseek"),
                }
            ),
        ),
        ProviderSpec(
            "xai",
            "xai",
            "/xai/v1",
            bearer,
            openai_errors,
            _table(
                {
                    ("POST", "/v1/chat/completions"): chat_handler(_flavors.XAI),
                    ("POST", "/v1/responses"): responses_handler(obfuscation=False),
                    ("GET", "/v1/models"): models_handler(("grok-4",), "xai"),
                }
            ),
        ),
        ProviderSpec(
            "openrouter",
            "openrouter",
            "/openrouter/api/v1",
            bearer,
            ErrorStyle.OPENROUTER,
            _table(
                {
                    ("POST", "/api/v1/chat/completions"): chat_handler(_flavors.OPENROUTER),
                    ("GET", "/api/v1/models"): models_handler(("openai/gpt-4o",), "openrouter"),
                    ("GET", "/api/v1/key"): openrouter_key_info,
                }
            ),
        ),
        ProviderSpec(
            "together",
            "together",
            "/together/v1",
            bearer,
            openai_errors,
            _table(
                {
                    ("POST", "/v1/chat/completions"): chat_handler(_flavors.TOGETHER),
                    ("POST", "/v1/embeddings"): embeddings_handler(openai_errors),
                    ("GET", "/v1/models"): models_handler(
                        ("meta-llama/Llama-3.3-70B-Instruct-Turbo",), "together"
                    ),
                }
            ),
        ),
        ProviderSpec(
            "perplexity",
            "perplexity",
            "/perplexity",
            bearer,
            openai_errors,
            _table(
                {
                    ("POST", "/chat/completions"): chat_handler(_flavors.PERPLEXITY),
                    ("GET", "/models"): models_handler(("sonar", "sonar-pro"), "perplexity"),
                }
            ),
        ),
        ProviderSpec(
            "cohere",
            "cohere",
            "/cohere",
            bearer,
            ErrorStyle.COHERE,
            _table({("POST", "/v2/chat"): cohere_chat, ("GET", "/v1/models"): cohere_models}),
        ),
        ProviderSpec(
            "openai_compatible",
            "compat",
            "/compat/v1",
            bearer,
            openai_errors,
            _table(
                {
                    ("POST", "/v1/chat/completions"): chat_handler(_flavors.COMPATIBLE),
                    ("POST", "/v1/embeddings"): embeddings_handler(openai_errors),
                    ("GET", "/v1/models"): models_handler(models, "simulator"),
                }
            ),
        ),
        # The resource endpoint is the base URL; deployments and api-version are in the paths.
        ProviderSpec("azure_openai", "azure", "/azure", Auth.AZURE, openai_errors, azure_route),
        *vertex_specs(vertex),
        # One regional endpoint (us-east-1) that checks SigV4 against the simulated account's keys.
        ProviderSpec("aws_bedrock", "bedrock", "/bedrock", Auth.AWS, ErrorStyle.BEDROCK, bedrock_route()),
    )
    return MappingProxyType({spec.segment: spec for spec in specs})


def vertex_specs(upstream: VertexUpstream | None = None) -> tuple[ProviderSpec, ProviderSpec]:
    """Google Vertex AI (``/vertex``, a credential's ``endpointUrl``) and its token endpoint
    (``/vertex-oauth/token``, its ``tokenUri``: see ``vertex_token_uri``), sharing ``upstream``."""
    upstream = upstream if upstream is not None else VertexUpstream()
    return (
        ProviderSpec(
            "google_vertex", "vertex", "/vertex", Auth.BEARER, ErrorStyle.GEMINI, upstream.resolve_api
        ),
        ProviderSpec(
            "google_vertex_oauth",
            "vertex-oauth",
            "/vertex-oauth",
            Auth.OAUTH_ASSERTION,
            ErrorStyle.GEMINI,
            upstream.resolve_token,
        ),
    )


def vertex_token_uri(vertex_base_url: str) -> str:
    """The simulator's token endpoint, from its Vertex base URL (``{root}/vertex``)."""
    root = vertex_base_url.rstrip("/").removesuffix("/vertex")
    return f"{root}/vertex-oauth{TOKEN_PATH}"


def _bearer(value: str | None) -> str | None:
    if value is None:
        return None
    scheme, _, token = value.partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def api_key(spec: ProviderSpec, request: ReceivedRequest) -> str | None:
    """The key the request presents, the way this provider reads it."""
    headers = request.headers
    if spec.auth is Auth.OAUTH_ASSERTION:
        return form_assertion(request)
    if spec.auth is Auth.ANTHROPIC:
        return headers.get("x-api-key") or _bearer(headers.get("authorization"))
    if spec.auth is Auth.GEMINI:
        key = headers.get("x-goog-api-key")
        if key or not request.query_string:
            return key or None
        return next(iter(parse_qs(request.query_string).get("key", ())), None)
    if spec.auth is Auth.AWS:
        return bedrock_key(headers)
    if spec.auth is Auth.AZURE:
        return headers.get("api-key") or _bearer(headers.get("authorization"))
    return _bearer(headers.get("authorization"))


_MISSING = MappingProxyType(
    {
        ErrorStyle.OPENAI: "You didn't provide an API key. You need to provide your API key in an "
        "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
        ErrorStyle.MISTRAL: "Unauthorized",
        ErrorStyle.OPENROUTER: "No auth credentials found",
        ErrorStyle.ANTHROPIC: "x-api-key header is required",
        ErrorStyle.COHERE: "no api key supplied",
        ErrorStyle.GEMINI: "Method doesn't allow unregistered callers (callers without established "
        "identity). Please use API Key or other form of API consumer identity to call this API.",
    }
)


def unauthorized(spec: ProviderSpec, key: str | None) -> Reply:
    """401 in the provider's format. The key itself is never echoed, only its last four characters."""
    if spec.errors is ErrorStyle.BEDROCK:
        return bedrock_unauthorized(key)  # AWS answers 403, whatever is wrong with the key
    if key is None:
        return error_reply(spec.errors, 401, _MISSING[spec.errors])
    preview = f"...{key[-4:]}" if len(key) > 8 else "***"
    if spec.errors is ErrorStyle.OPENAI:
        return error_reply(
            spec.errors, 401, f"Incorrect API key provided: {preview}.", code="invalid_api_key"
        )
    return error_reply(
        spec.errors, 401, None if spec.errors is not ErrorStyle.OPENROUTER else "User not found."
    )
