"""``POST /v1/provider-credentials/{id}/test``: the cheapest real check a provider allows.

Lists the provider's models with the stored key (no tokens are spent) and explains the
answer in words a person can act on. The key is never part of the result.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from tollgate.core import jsonx
from tollgate.core.clock import Clock
from tollgate.core.errors import TollgateError
from tollgate.gateway.upstream import UpstreamRequest, UpstreamResponse
from tollgate.providers import bedrock_check
from tollgate.providers.endpoints import route_path
from tollgate.providers.registry import ANTHROPIC_DEFAULT_VERSION, join_url
from tollgate.services.credentials_base import ResolvedCredential
from tollgate.services.vertex_check import vertex_probe, vertex_reason

_MODEL_LIST_PATH: Mapping[str, str] = MappingProxyType(
    {
        "openai": "models",
        "anthropic": "v1/models",
        "gemini": "v1beta/models",
        "cohere": "v1/models",  # Cohere lists models only under v1; its chat is v2
    }
)
# Providers whose model list answers without a key (or lives elsewhere): check another endpoint.
_KEY_CHECK_PATH: Mapping[str, str] = MappingProxyType({"openrouter": "key", "azure_openai": "v1/models"})


@dataclass(frozen=True, slots=True)
class CheckResult:
    ok: bool
    provider: str
    status: int | None = None
    latency_ms: int | None = None
    reason: str | None = None


def _reason(status: int) -> str:
    if status in (401, 403):
        return "the provider rejected the key (check that it is current and has access)"
    if status == 404:
        return "the provider has no such endpoint (check config.baseUrl)"
    if status == 429:
        return "the provider is rate-limiting this key right now; the key itself was accepted"
    if status >= 500:
        return f"the provider answered {status}; try again later"
    return f"the provider answered {status}"


# Sends a request with the credential's proof of identity added (``Authorizer.send``).
Send = Callable[[UpstreamRequest, ResolvedCredential], Awaitable[UpstreamResponse]]


def _probe(credential: ResolvedCredential) -> UpstreamRequest:
    """The cheapest request that proves the credential works (without its auth, added by ``send``)."""
    spec, config = credential.spec, credential.config
    if spec.id == "google_vertex":
        return vertex_probe(credential)
    if spec.id == "aws_bedrock":  # a free CountTokens call, signed like any other
        url, body = bedrock_check.probe(credential.base_url, config)
        return UpstreamRequest("POST", url, [("content-type", "application/json")], body)
    if spec.id == "azure_openai" and config.get("deployment"):
        # A model list cannot tell whether the deployment exists: one token from it can.
        path, query = route_path(spec, config, "chat/completions", "", str(config["deployment"]))
        body = jsonx.dumps({"messages": [{"role": "user", "content": "ping"}], "max_tokens": 1})
        url = (
            f"{join_url(credential.base_url, path)}?{query}" if query else join_url(credential.base_url, path)
        )
        return UpstreamRequest("POST", url, [("content-type", "application/json")], body)
    headers: list[tuple[str, str]] = []
    if spec.family == "anthropic":
        headers.append(("anthropic-version", ANTHROPIC_DEFAULT_VERSION))
    path = _KEY_CHECK_PATH.get(spec.id) or _MODEL_LIST_PATH[spec.family]
    return UpstreamRequest("GET", join_url(credential.base_url, path), headers)


def _explain(credential: ResolvedCredential, status: int) -> str:
    config = credential.config
    if credential.spec.id == "google_vertex":
        return vertex_reason(config, status) or _reason(status)
    if credential.spec.id == "azure_openai" and status == 404 and config.get("deployment"):
        return f"the deployment {config['deployment']!r} does not exist on this Azure resource"
    return _reason(status)


async def check_credential(credential: ResolvedCredential, send: Send, clock: Clock) -> CheckResult:
    spec = credential.spec
    started = clock.monotonic()
    try:
        response = await send(_probe(credential), credential)
        try:
            answer = await response.read()
        finally:
            await response.aclose()
    except TollgateError as exc:
        return CheckResult(False, spec.id, reason=exc.message)
    latency = round((clock.monotonic() - started) * 1000)
    ok = response.status < 400 or response.status == 429
    reason = None if response.status < 400 else _explain(credential, response.status)
    if spec.id == "aws_bedrock" and response.status >= 400:
        api_key = credential.secrets is None
        explained = bedrock_check.explain(
            response.status, response.headers, answer, credential.config, api_key=api_key
        )
        reason = explained or reason
    return CheckResult(ok, spec.id, response.status, latency, reason)
