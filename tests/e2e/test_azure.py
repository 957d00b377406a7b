"""Azure OpenAI: deployment URLs with api-version, the v1 API, the ``api-key`` header.

Driven by the official ``openai`` SDK (``AzureOpenAI`` through the pass-through, ``OpenAI``
against the universal door) and by ``/v1/chat``, all against the simulated Azure resource.
"""

from __future__ import annotations

from typing import Any

import httpx2
import openai
import pytest
from genai_prices import extract_usage

from tests.support.gateway import PROVIDER_KEY, Tenant
from tollgate.cli.demo import AZURE_API_VERSION
from tollgate.core import jsonx
from tollgate.core.money import format_usd, usd_to_nanos
from tollgate.testing import Scenario, Simulator
from tollgate.testing._azure import DEPLOYMENTS


def expected_cost(body: dict[str, Any]) -> str:
    price = extract_usage(body, provider_id="azure", api_flavor="chat").calc_price().total_price
    return format_usd(usd_to_nanos(price))


def chat(tenant: Tenant, body: dict[str, Any]) -> httpx2.Response:
    return httpx2.post(tenant.url + "/v1/chat", json=body, headers=tenant.headers(), timeout=30)


def messages(text: str = "Summarise the incident report") -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


def test_chat_door_calls_the_deployment_with_api_version_and_api_key(tenant: Tenant, sim: Simulator) -> None:
    response = chat(tenant, {"provider": "azure_openai", "model": "gpt-4o-mini", "messages": messages()})
    assert response.status_code == 200, response.text
    upstream = sim.received[-1]
    assert upstream.path == "/azure/openai/deployments/gpt-4o-mini/chat/completions"
    assert upstream.query_string == f"api-version={AZURE_API_VERSION}"
    assert upstream.header("api-key") == PROVIDER_KEY
    assert upstream.header("authorization") is None
    body = response.json()
    assert body["response"]["prompt_filter_results"]  # Azure's own fields come through
    metrics = body["metrics"]
    assert metrics["provider"] == "azure_openai"
    assert metrics["costUsd"] == expected_cost(body["response"])
    assert metrics["inputTokens"] == body["response"]["usage"]["prompt_tokens"]


def test_streamed_chat_skips_the_empty_choices_chunk_and_meters_usage(tenant: Tenant, sim: Simulator) -> None:
    sim.enqueue(Scenario(chunks=4))
    plain = chat(tenant, {"provider": "azure_openai", "model": "gpt-4o", "messages": messages()})
    sim.enqueue(Scenario(chunks=4))
    body = {"provider": "azure_openai", "model": "gpt-4o", "messages": messages(), "stream": True}
    with httpx2.stream(
        "POST", tenant.url + "/v1/chat", json=body, headers=tenant.headers(), timeout=30
    ) as streamed:
        assert streamed.status_code == 200
        text = streamed.read().decode()
    events = [line[6:] for line in text.splitlines() if line.startswith("data: ")]
    chunks = [jsonx.loads(e) for e in events if e != "[DONE]"]
    assert chunks[0]["choices"] == [] and "prompt_filter_results" in chunks[0]
    metrics = chunks[-1]
    assert metrics["provider"] == "azure_openai" and metrics["status"] == "success"
    assert metrics["costUsd"] == plain.json()["metrics"]["costUsd"]
    assert metrics["outputTokens"] == plain.json()["metrics"]["outputTokens"]


def test_azure_sdk_through_the_pass_through(tenant: Tenant, sim: Simulator) -> None:
    client = openai.AzureOpenAI(
        azure_endpoint=tenant.url + "/api/proxy/azure_openai",
        api_key=tenant.key,
        api_version=AZURE_API_VERSION,
        max_retries=0,
    )
    raw = client.chat.completions.with_raw_response.create(model="prod-chat", messages=messages())
    completion = raw.parse()
    assert completion.choices[0].message.content
    upstream = sim.received[-1]
    assert upstream.path == "/azure/openai/deployments/prod-chat/chat/completions"
    assert upstream.header("api-key") == PROVIDER_KEY and tenant.key not in str(upstream.headers)
    record = tenant.record(raw.headers["x-tollgate-request-id"])
    assert record["provider"] == "azure_openai" and record["door"] == "passthrough"
    # The deployment runs gpt-4o-mini: that is the model priced and recorded.
    assert completion.model == DEPLOYMENTS["prod-chat"]
    assert record["costUsd"] == expected_cost(jsonx.loads(raw.http_response.content))

    stream = client.chat.completions.create(
        model="prod-chat", messages=messages(), stream=True, stream_options={"include_usage": True}
    )
    chunks = list(stream)
    assert chunks[0].choices == []  # the SDK sees Azure's filter-only chunk, as from Azure
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert chunks[-1].usage is not None and chunks[-1].usage.total_tokens > 0


def test_openai_door_reaches_azure_by_prefix(tenant: Tenant, sim: Simulator) -> None:
    client = openai.OpenAI(base_url=tenant.url + "/v1", api_key=tenant.key, max_retries=0)
    raw = client.chat.completions.with_raw_response.create(
        model="azure_openai/gpt-4.1-mini", messages=messages()
    )
    assert raw.parse().choices[0].message.content
    assert sim.received[-1].path == "/azure/openai/deployments/gpt-4.1-mini/chat/completions"
    record = tenant.record(raw.headers["x-tollgate-request-id"])
    assert record["provider"] == "azure_openai" and record["door"] == "openai"
    assert record["costUsd"] is not None


def _credential(tenant: Tenant, config: dict[str, Any], name: str) -> httpx2.Response:
    body = {"provider": "azure_openai", "name": name, "apiKey": PROVIDER_KEY, "config": config}
    return tenant.admin("POST", "/v1/provider-credentials", json=body)


def test_the_v1_api_when_no_api_version_is_configured(tenant: Tenant, sim: Simulator) -> None:
    endpoint = sim_endpoint(tenant)
    created = _credential(tenant, {"endpoint": endpoint}, "v1-api")
    assert created.status_code == 201, created.text
    response = httpx2.post(
        tenant.url + "/v1/chat",
        json={"provider": "azure_openai", "model": "gpt-4o", "messages": messages()},
        headers=tenant.headers(**{"x-tollgate-credential": "v1-api"}),
        timeout=30,
    )
    assert response.status_code == 200, response.text
    upstream = sim.received[-1]
    assert upstream.path == "/azure/openai/v1/chat/completions" and upstream.query_string == ""
    assert upstream.json["model"] == "gpt-4o"


def test_configured_deployment_serves_every_model_name(tenant: Tenant, sim: Simulator) -> None:
    config = {"endpoint": sim_endpoint(tenant), "deployment": "prod-chat", "apiVersion": "2025-04-01-preview"}
    assert _credential(tenant, config, "pinned").status_code == 201
    response = httpx2.post(
        tenant.url + "/v1/chat",
        json={"provider": "azure_openai", "model": "anything", "messages": messages()},
        headers=tenant.headers(**{"x-tollgate-credential": "pinned"}),
        timeout=30,
    )
    assert response.status_code == 200, response.text
    assert sim.received[-1].path == "/azure/openai/deployments/prod-chat/chat/completions"
    assert sim.received[-1].query_string == "api-version=2025-04-01-preview"


def test_unknown_deployment_is_the_providers_404(tenant: Tenant, sim: Simulator) -> None:
    response = chat(
        tenant, {"provider": "azure_openai", "model": "no-such-deployment", "messages": messages()}
    )
    assert response.status_code == 404
    assert response.json()["error"]["providerError"]["error"]["code"] == "DeploymentNotFound"


@pytest.mark.parametrize(
    ("config", "field"),
    [
        ({}, "endpoint"),
        ({"endpoint": "not a url"}, None),
        ({"endpoint": "https://r.openai.azure.com", "apiVersion": "latest"}, "apiVersion"),
        ({"endpoint": "https://r.openai.azure.com", "deployment": "a/b"}, "deployment"),
    ],
)
def test_bad_azure_config_is_refused_at_creation(
    tenant: Tenant, config: dict[str, Any], field: str | None
) -> None:
    response = _credential(tenant, config, "bad")
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] in ("invalid_config", "invalid_base_url")
    if field is not None:
        assert field in error["message"]
    assert PROVIDER_KEY not in response.text


def test_credential_check_names_an_unknown_deployment(tenant: Tenant, sim: Simulator) -> None:
    good = tenant.admin("POST", f"/v1/provider-credentials/{tenant.credentials['azure_openai']}/test")
    assert good.status_code == 200 and good.json()["ok"] is True, good.text
    config = {"endpoint": sim_endpoint(tenant), "deployment": "missing", "apiVersion": AZURE_API_VERSION}
    created = _credential(tenant, config, "missing-deployment")
    result = tenant.admin("POST", f"/v1/provider-credentials/{created.json()['id']}/test").json()
    assert result["ok"] is False and "deployment" in result["reason"]
    assert PROVIDER_KEY not in str(result)


def sim_endpoint(tenant: Tenant) -> str:
    listed = tenant.admin("GET", f"/v1/provider-credentials/{tenant.credentials['azure_openai']}").json()
    return str(listed["config"]["endpoint"])
