"""``POST /v1/provider-credentials/{id}/test``: the cheapest real check a provider allows.

Lists the provider's models with the stored key (no tokens are spent) and explains the
answer in words a person can act on. The key is never part of the result.
"""

from __future__ import annotations

from dataclasses import dataclass

from tollgate.core.clock import Clock
from tollgate.core.errors import TollgateError
from tollgate.gateway.upstream import Transport, UpstreamRequest
from tollgate.providers.registry import ANTHROPIC_DEFAULT_VERSION, auth_headers, join_url
from tollgate.services.credentials_base import ResolvedCredential

_MODEL_LIST_PATH = {"openai": "models", "anthropic": "v1/models", "gemini": "v1beta/models"}
# Providers whose model list answers without a key: check an endpoint that reads the key instead.
_KEY_CHECK_PATH = {"openrouter": "key"}


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


async def check_credential(credential: ResolvedCredential, transport: Transport, clock: Clock) -> CheckResult:
    spec = credential.spec
    headers = auth_headers(spec, credential.api_key)
    if spec.family == "anthropic":
        headers.append(("anthropic-version", ANTHROPIC_DEFAULT_VERSION))
    path = _KEY_CHECK_PATH.get(spec.id) or _MODEL_LIST_PATH[spec.family]
    request = UpstreamRequest("GET", join_url(credential.base_url, path), headers)
    started = clock.monotonic()
    try:
        response = await transport(request)
        await response.read()
    except TollgateError as exc:
        return CheckResult(False, spec.id, reason=exc.message)
    latency = round((clock.monotonic() - started) * 1000)
    ok = response.status < 400 or response.status == 429
    return CheckResult(
        ok, spec.id, response.status, latency, None if response.status < 400 else _reason(response.status)
    )
