"""Vertex URL building (hosts per location, Gemini and Claude paths) and the Claude-on-Vertex body."""

from __future__ import annotations

from typing import Any

import pytest

from tollgate.core.errors import BadRequest
from tollgate.providers.vertex_urls import (
    VERTEX_ANTHROPIC_VERSION,
    VertexConfig,
    anthropic_body_for_vertex,
    anthropic_count_tokens_url,
    anthropic_url,
    gemini_count_tokens_url,
    gemini_url,
    vertex_config,
    vertex_host,
)

P = "/v1/projects/my-proj/locations"


@pytest.mark.parametrize(
    ("location", "host"),
    [
        ("us-central1", "us-central1-aiplatform.googleapis.com"),
        ("europe-west4", "europe-west4-aiplatform.googleapis.com"),
        ("global", "aiplatform.googleapis.com"),
        ("us", "aiplatform.us.rep.googleapis.com"),
        ("eu", "aiplatform.eu.rep.googleapis.com"),
    ],
)
def test_host_per_location(location: str, host: str) -> None:
    assert vertex_host(location) == host


@pytest.mark.parametrize(
    ("build", "url"),
    [
        (
            lambda c: gemini_url(c, "gemini-2.5-flash", stream=False),
            f"https://us-east5-aiplatform.googleapis.com{P}/us-east5/publishers/google/models/gemini-2.5-flash:generateContent",
        ),
        (
            lambda c: gemini_url(c, "gemini-2.5-flash", stream=True),
            f"https://us-east5-aiplatform.googleapis.com{P}/us-east5/publishers/google/models/gemini-2.5-flash"
            ":streamGenerateContent?alt=sse",
        ),
        (
            lambda c: gemini_url(c, "gemini-2.5-pro", stream=False, version="v1beta1"),
            "https://us-east5-aiplatform.googleapis.com/v1beta1/projects/my-proj/locations/us-east5"
            "/publishers/google/models/gemini-2.5-pro:generateContent",
        ),
        (
            lambda c: gemini_count_tokens_url(c, "gemini-2.5-flash"),
            f"https://us-east5-aiplatform.googleapis.com{P}/us-east5/publishers/google/models/gemini-2.5-flash:countTokens",
        ),
        (
            lambda c: anthropic_url(c, "claude-sonnet-4@20250514", stream=False),
            f"https://us-east5-aiplatform.googleapis.com{P}/us-east5/publishers/anthropic/models/claude-sonnet-4@20250514"
            ":rawPredict",
        ),
        (
            lambda c: anthropic_url(c, "claude-sonnet-4@20250514", stream=True),
            f"https://us-east5-aiplatform.googleapis.com{P}/us-east5/publishers/anthropic/models/claude-sonnet-4@20250514"
            ":streamRawPredict",
        ),
        (
            anthropic_count_tokens_url,
            f"https://us-east5-aiplatform.googleapis.com{P}/us-east5/publishers/anthropic/models/count-tokens:rawPredict",
        ),
    ],
)
def test_urls(build: Any, url: str) -> None:
    assert build(vertex_config({"projectId": "my-proj", "location": "us-east5"})) == url


def test_global_and_multi_region_urls() -> None:
    config = vertex_config({"projectId": "my-proj", "location": "global"})
    assert gemini_url(config, "m", stream=False).startswith(f"https://aiplatform.googleapis.com{P}/global/")
    config = vertex_config({"projectId": "my-proj", "location": "eu"})
    assert anthropic_url(config, "m", stream=True).startswith(
        f"https://aiplatform.eu.rep.googleapis.com{P}/eu/"
    )


@pytest.mark.parametrize(
    ("endpoint", "origin"),
    [
        ("https://vertex.internal.example.com/", "https://vertex.internal.example.com"),
        ("https://psc.example.com:8443/prefix", "https://psc.example.com:8443/prefix"),
        ("http://127.0.0.1:8081/vertex", "http://127.0.0.1:8081/vertex"),
        ("http://localhost:9/vertex", "http://localhost:9/vertex"),
    ],
)
def test_endpoint_url_replaces_the_host(endpoint: str, origin: str) -> None:
    config = vertex_config({"projectId": "p-1", "location": "us-central1", "endpointUrl": endpoint})
    assert config == VertexConfig("p-1", "us-central1", origin)
    assert gemini_url(config, "m", stream=False) == (
        f"{origin}/v1/projects/p-1/locations/us-central1/publishers/google/models/m:generateContent"
    )


@pytest.mark.parametrize(
    ("config", "field"),
    [
        ({"location": "us-central1"}, "projectId"),
        ({"projectId": "My_Project", "location": "us-central1"}, "projectId"),
        ({"projectId": "p/../other", "location": "us-central1"}, "projectId"),
        ({"projectId": "p", "location": "us central1"}, "location"),
        ({"projectId": "p", "location": "us-central1/x"}, "location"),
        ({"projectId": "p"}, "location"),
        ({"projectId": "p", "location": "us", "endpointUrl": "http://vertex.example.com"}, "endpointUrl"),
        ({"projectId": "p", "location": "us", "endpointUrl": "https://h.example.com/?x=1"}, "endpointUrl"),
        ({"projectId": "p", "location": "us", "endpointUrl": "https://user:pw@h.example.com"}, "endpointUrl"),
        ({"projectId": "p", "location": "us", "endpointUrl": "ftp://h.example.com"}, "endpointUrl"),
        ({"projectId": "p", "location": "us", "endpointUrl": 7}, "endpointUrl"),
    ],
)
def test_invalid_config_is_400(config: dict[str, Any], field: str) -> None:
    with pytest.raises(BadRequest) as caught:
        vertex_config(config)
    assert caught.value.code == "invalid_config" and caught.value.details["field"] == field


@pytest.mark.parametrize("model", ["../x", "m?alt=json", "m#f", "m/other", "", "m:rawPredict"])
def test_model_names_cannot_escape_the_path(model: str) -> None:
    config = vertex_config({"projectId": "p", "location": "us-central1"})
    with pytest.raises(BadRequest) as caught:
        gemini_url(config, model, stream=False)
    assert caught.value.code == "invalid_model"


def test_claude_body_moves_model_out_and_version_in() -> None:
    body = {"model": "claude-sonnet-4", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}
    out = anthropic_body_for_vertex(body)
    assert out == {
        "max_tokens": 5,
        "messages": body["messages"],
        "anthropic_version": VERTEX_ANTHROPIC_VERSION,
    }
    assert "model" in body  # the input is left alone
    assert (
        anthropic_body_for_vertex({**body, "anthropic_version": "2026-10-21"})["anthropic_version"]
        == "2026-10-21"
    )
    assert anthropic_body_for_vertex(body, "2026-10-21")["anthropic_version"] == "2026-10-21"
