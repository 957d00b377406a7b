"""tollgate's metrics in an answer's body: spliced into the provider's own bytes, which pass
through otherwise untouched, or set over a provider field of the same name."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest

from tests.support.gateway import Tenant, make_tenant, running_gateway
from tests.support.upstream import FakeResponse
from tollgate.core import jsonx
from tollgate.gateway.upstream import UpstreamRequest, UpstreamResponse

USAGE = b'"usage": {"prompt_tokens": 9, "completion_tokens": 3, "total_tokens": 12}'


class Upstream:
    """Answers every call with the next body it was given."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []

    async def __call__(self, request: UpstreamRequest) -> UpstreamResponse:
        return FakeResponse(200, self.bodies.pop(0))


@pytest.fixture
def upstream() -> Upstream:
    return Upstream()


@pytest.fixture
def tenant(tmp_path: Path, upstream: Upstream) -> Iterator[Tenant]:
    with running_gateway(tmp_path, app_options={"transport": upstream}) as server:
        yield make_tenant(server, "http://127.0.0.1:9")  # never dialled: the transport answers


def chat(tenant: Tenant) -> httpx2.Response:
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
    response = httpx2.post(
        tenant.url + "/v1/chat/completions", json=body, headers=tenant.headers(), timeout=30
    )
    assert response.status_code == 200, response.text
    return response


def test_the_provider_bytes_pass_through_with_the_metrics_added(tenant: Tenant, upstream: Upstream) -> None:
    # Spacing, key order and a float written as the provider wrote it: kept byte for byte.
    upstream.bodies.append(b'{"id": "c-1",  "object": "chat.completion", "score": 1.50, ' + USAGE + b"}\n")
    response = chat(tenant)
    assert response.content.startswith(b'{"id": "c-1",  "object": "chat.completion", "score": 1.50, ')
    answer = response.json()
    assert answer["tollgate"] == answer["killtoken"]
    assert answer["tollgate"]["metrics"]["outputTokens"] == 3
    assert answer["tollgate"]["metrics"] == jsonx.loads(response.headers["x-tollgate-metrics"])
    assert int(response.headers["content-length"]) == len(response.content)


def test_a_provider_field_named_like_the_metrics_is_replaced_not_duplicated(
    tenant: Tenant, upstream: Upstream
) -> None:
    upstream.bodies.append(b'{"id": "c-2", "tollgate": "theirs", ' + USAGE + b"}")
    response = chat(tenant)
    assert response.content.count(b'"tollgate"') == 1
    answer = response.json()
    assert answer["id"] == "c-2" and answer["tollgate"]["metrics"]["inputTokens"] == 9
