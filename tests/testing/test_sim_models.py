"""Model lists: the cheapest authenticated call each provider offers (used to test credentials)."""

from __future__ import annotations

import httpx2
import pytest

from tollgate.testing import SimulatorServer

CASES = [
    ("openai", "/models", {"authorization": "Bearer k"}, "data"),
    ("anthropic", "/v1/models", {"x-api-key": "k"}, "data"),
    ("gemini", "/v1beta/models", {"x-goog-api-key": "k"}, "models"),
    ("mistral", "/models", {"authorization": "Bearer k"}, "data"),
    ("deepseek", "/models", {"authorization": "Bearer k"}, "data"),
    ("xai", "/models", {"authorization": "Bearer k"}, "data"),
    ("openrouter", "/models", {"authorization": "Bearer k"}, "data"),
    ("openrouter", "/key", {"authorization": "Bearer k"}, "data"),
    ("together", "/models", {"authorization": "Bearer k"}, "data"),
    ("perplexity", "/models", {"authorization": "Bearer k"}, "data"),
    ("openai_compatible", "/models", {"authorization": "Bearer k"}, "data"),
]


@pytest.mark.parametrize(("provider", "path", "headers", "field"), CASES)
def test_model_list(
    served: SimulatorServer, provider: str, path: str, headers: dict[str, str], field: str
) -> None:
    response = httpx2.get(served.base_url(provider) + path, headers=headers)
    assert response.status_code == 200, response.text
    assert response.json()[field], "the list is not empty"
    unauthenticated = httpx2.get(served.base_url(provider) + path)
    assert unauthenticated.status_code == 401
