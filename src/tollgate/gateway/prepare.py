"""Builds the upstream HTTP request for a call: URL, headers, body, auth injected."""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import parse_qsl, urlencode

from tollgate.core import jsonx
from tollgate.gateway.call import GatewayCall
from tollgate.gateway.upstream import UpstreamRequest
from tollgate.providers.base import Operation
from tollgate.providers.endpoints import route_path
from tollgate.providers.registry import ANTHROPIC_DEFAULT_VERSION, join_url
from tollgate.services.credentials_base import ResolvedCredential

# Client request headers never forwarded upstream: the hop, the gateway's own auth, cookies.
_DROP_REQUEST_HEADERS = frozenset(
    {
        "host",
        "connection",
        "keep-alive",
        "content-length",
        "transfer-encoding",
        "te",
        "upgrade",
        "proxy-authorization",
        "authorization",
        "x-api-key",
        "x-goog-api-key",
        "api-key",
        "cookie",
        "accept-encoding",
        "forwarded",
        "x-forwarded-for",
        "x-forwarded-host",
        "x-forwarded-proto",
        "x-real-ip",
    }
)

# Query parameters that may carry the gateway key (Gemini's ``?key=``): never forwarded.
_DROP_QUERY = frozenset({"key", "api-key", "api_key"})


def forwardable_headers(headers: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    return [
        (name, value)
        for name, value in headers
        if name not in _DROP_REQUEST_HEADERS and not name.startswith("x-tollgate-")
    ]


def clean_query(query: str) -> str:
    if not query:
        return ""
    pairs = [(k, v) for k, v in parse_qsl(query, keep_blank_values=True) if k.lower() not in _DROP_QUERY]
    return urlencode(pairs)


def wants_stream_usage_injection(call: GatewayCall) -> bool:
    """OpenAI-family chat streams report usage only when asked; ask on the client's behalf."""
    if not (call.stream and call.spec.family == "openai" and call.operation is Operation.CHAT):
        return False
    if not call.spec.usage_needs_stream_option or call.body is None:
        return False
    options = call.body.get("stream_options")
    return not (isinstance(options, dict) and options.get("include_usage") is True)


def inject_stream_usage(call: GatewayCall) -> None:
    """Ask upstream for the usage chunk, and remember to hide it from this client."""
    if call.body is None:
        return
    options = call.body.get("stream_options")
    merged = dict(options) if isinstance(options, dict) else {}
    merged["include_usage"] = True
    call.body["stream_options"] = merged
    call.drop_usage_chunk = True


def build_upstream_request(call: GatewayCall, credential: ResolvedCredential) -> UpstreamRequest:
    """The request without its proof of identity (``Authorizer`` adds that as it sends)."""
    path, query = call.path, clean_query(call.query)
    if not call.provider_path:
        path, query = route_path(call.spec, credential.config, path, query, call.model)
    url = join_url(credential.base_url, path)
    if query:
        url = f"{url}?{query}"
    headers = list(call.forward_headers)
    names = {name for name, _ in headers}
    if call.spec.family == "anthropic" and "anthropic-version" not in names:
        headers.append(("anthropic-version", ANTHROPIC_DEFAULT_VERSION))
    body = jsonx.dumps(call.body) if call.body is not None else call.raw_body
    if body is not None and "content-type" not in names:
        headers.append(("content-type", "application/json"))
    return UpstreamRequest(call.method, url, headers, body)
