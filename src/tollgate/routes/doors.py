"""What every door does the same way: build the call, run it, turn the outcome into a response."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from tollgate.core.errors import TollgateError
from tollgate.gateway.call import GatewayCall, Outcome, Tags
from tollgate.gateway.pipeline import Gateway
from tollgate.providers.base import Operation
from tollgate.providers.registry import UNKNOWN, ProviderSpec
from tollgate.routes.http import client_gone
from tollgate.routes.streaming import RelayResponse
from tollgate.services.tags import clean_tag
from tollgate.store.records import GatewayKey

ErrorRenderer = Callable[[TollgateError], Response]


def header_tags(request: Request, meta: Any = None, metadata: Any = None) -> Tags:
    """Attribution tags: body values win over the ``x-tollgate-*`` headers.

    ``x-killtoken-feature`` is accepted too: seed 002's clients set it as a default header.
    """
    meta = meta if isinstance(meta, dict) else {}
    metadata = metadata if isinstance(metadata, dict) else {}
    h = request.headers
    feature_header = h.get("x-tollgate-feature") or h.get("x-killtoken-feature")
    return Tags(
        route_name=clean_tag(meta.get("routeName")) or clean_tag(h.get("x-tollgate-route")),
        function_name=clean_tag(meta.get("functionName")) or clean_tag(h.get("x-tollgate-function")),
        feature=clean_tag(metadata.get("feature")) or clean_tag(feature_header),
        customer_id=clean_tag(metadata.get("customerId")) or clean_tag(h.get("x-tollgate-customer")),
        metadata={k: v for k, v in metadata.items() if k not in ("feature", "customerId")},
    )


def new_call(
    gateway: Gateway,
    request: Request,
    *,
    door: str,
    key: GatewayKey,
    spec: ProviderSpec = UNKNOWN,
    path: str = "",
    operation: Operation = Operation.OTHER,
    model: str = "",
    started: float,
    **fields: Any,
) -> GatewayCall:
    request_id = (
        request.state.request_id if hasattr(request.state, "request_id") else gateway.new_request_id()
    )
    return GatewayCall(
        request_id=request_id,
        door=door,
        key=key,
        spec=spec,
        method=request.method,
        path=path,
        operation=operation,
        model=model,
        started=started,
        credential_name=request.headers.get("x-tollgate-credential"),
        client_gone=functools.partial(client_gone, request),
        **fields,
    )


def outcome_response(
    outcome: Outcome, *, body: bytes | None = None, extra: list[tuple[str, str]] | None = None
) -> Response:
    headers = [*outcome.headers, *(extra or [])]
    if outcome.chunks is not None:
        return RelayResponse(
            outcome.chunks,
            outcome.state,
            status_code=outcome.status,
            headers=headers,
            media_type=outcome.content_type,
        )
    response = Response(
        body if body is not None else (outcome.body or b""),
        status_code=outcome.status,
        media_type=None,
    )
    response.raw_headers = [
        (k.encode("latin-1"), v.encode("latin-1")) for k, v in headers if k != "content-length"
    ] + [(b"content-length", str(len(response.body)).encode())]
    if not any(k == "content-type" for k, _ in headers):
        response.raw_headers.append((b"content-type", outcome.content_type.encode("latin-1")))
    return response


async def run(gateway: Gateway, call: GatewayCall, render_error: ErrorRenderer) -> Outcome | Response:
    """Execute a call; errors come back already rendered in the door's format."""
    try:
        return await gateway.execute(call)
    except TollgateError as exc:
        response = render_error(exc)
        response.headers["x-tollgate-request-id"] = call.request_id
        return response


def fail(gateway: Gateway, call: GatewayCall, error: TollgateError, render_error: ErrorRenderer) -> Response:
    """Record a call refused after authentication, and render the refusal."""
    gateway.record_failure(call, error)
    response = render_error(error)
    response.headers["x-tollgate-request-id"] = call.request_id
    return response
