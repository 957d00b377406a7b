"""Gemini over raw HTTP: the generativelanguage body, SSE framing and usageMetadata semantics."""

from __future__ import annotations

import httpx2
import pytest
from sim_helpers import split_frames

from tollgate.testing import Scenario, Simulator, SimulatorServer

BODY = {
    "contents": [{"role": "user", "parts": [{"text": "one two three"}]}],
    "systemInstruction": {"parts": [{"text": "be brief"}]},
}
PROMPT = (3 + 4) + (2 + 4)


def _post(server: SimulatorServer, action: str, body: object = BODY, **kwargs: object) -> httpx2.Response:
    url = server.base_url("gemini") + f"/v1beta/models/gemini-2.5-flash:{action}"
    headers = kwargs.pop("headers", {"x-goog-api-key": "AIza-test"})
    return httpx2.post(url, json=body, headers=headers, timeout=10, **kwargs)  # type: ignore[arg-type]


def test_generate_content_usage_semantics(server: SimulatorServer, sim: Simulator) -> None:
    sim.defaults = Scenario(cache_read_tokens=40, reasoning_tokens=9, output_tokens=6)
    response = _post(server, "generateContent")
    assert response.status_code == 200
    body = response.json()
    candidate = body["candidates"][0]
    assert candidate["content"] == {"parts": [{"text": "tok1 tok2 tok3 tok4 tok5 tok6"}], "role": "model"}
    assert candidate["finishReason"] == "STOP"
    usage = body["usageMetadata"]
    assert usage["promptTokenCount"] == PROMPT + 40  # includes the cached part
    assert usage["cachedContentTokenCount"] == 40
    assert usage["candidatesTokenCount"] == 6  # excludes thoughts
    assert usage["thoughtsTokenCount"] == 9
    assert usage["totalTokenCount"] == PROMPT + 40 + 6 + 9
    assert body["modelVersion"] == "gemini-2.5-flash"
    assert sim.received[-1].provider == "gemini"


def test_stream_sse_is_crlf_data_only_with_growing_usage(server: SimulatorServer) -> None:
    response = _post(server, "streamGenerateContent", params={"alt": "sse"})
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.content.endswith(b"\r\n\r\n")
    assert b"[DONE]" not in response.content and b"event:" not in response.content
    frames = split_frames(response.content)
    chunks = [f.json() for f in frames]
    assert len(chunks) == 5 + 1
    counts = [c["usageMetadata"]["candidatesTokenCount"] for c in chunks]
    assert counts == sorted(counts) and counts[-1] == 12 and counts[0] < 12
    assert all(c["usageMetadata"]["promptTokenCount"] == PROMPT for c in chunks)
    assert "finishReason" not in chunks[0]["candidates"][0]
    assert chunks[-1]["candidates"][0]["finishReason"] == "STOP"
    text = "".join(c["candidates"][0]["content"]["parts"][0]["text"] for c in chunks)
    assert text == " ".join(f"tok{i}" for i in range(1, 13))


def test_stream_without_alt_sse_is_one_json_array(server: SimulatorServer) -> None:
    response = _post(server, "streamGenerateContent")
    chunks = response.json()
    assert isinstance(chunks, list) and len(chunks) == 6
    assert chunks[-1]["usageMetadata"]["candidatesTokenCount"] == 12


def test_v1_path_and_query_key_auth(server: SimulatorServer) -> None:
    url = server.base_url("gemini") + "/v1/models/gemini-2.0-flash:generateContent"
    response = httpx2.post(url, json=BODY, params={"key": "AIza-q"})
    assert response.status_code == 200
    assert response.json()["modelVersion"] == "gemini-2.0-flash"


def test_max_output_tokens(server: SimulatorServer) -> None:
    body = {**BODY, "generationConfig": {"maxOutputTokens": 4}}
    candidate = _post(server, "generateContent", body).json()["candidates"][0]
    assert candidate["finishReason"] == "MAX_TOKENS"
    assert candidate["content"]["parts"][0]["text"] == "tok1 tok2 tok3 tok4"


def test_count_tokens(server: SimulatorServer) -> None:
    assert _post(server, "countTokens").json()["totalTokens"] == PROMPT


@pytest.mark.parametrize("headers", [{}, {"authorization": "Bearer AIza-test"}])
def test_missing_key_is_401_in_google_shape(server: SimulatorServer, headers: dict[str, str]) -> None:
    response = _post(server, "generateContent", headers=headers)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == 401
    assert response.json()["error"]["status"] == "UNAUTHENTICATED"


def test_missing_contents_is_invalid_argument(server: SimulatorServer) -> None:
    response = _post(server, "generateContent", {"contents": []})
    assert response.status_code == 400
    assert response.json()["error"]["status"] == "INVALID_ARGUMENT"


def test_unknown_action_is_404(server: SimulatorServer) -> None:
    response = _post(server, "embedEverything")
    assert response.status_code == 404
    assert response.json()["error"]["status"] == "NOT_FOUND"


def test_the_finish_reason_knob_ends_the_answer_and_the_stream_with_it(
    server: SimulatorServer, sim: Simulator
) -> None:
    sim.defaults = Scenario(finish_reason="MALFORMED_FUNCTION_CALL", output_tokens=4)
    whole = _post(server, "generateContent").json()
    assert whole["candidates"][0]["finishReason"] == "MALFORMED_FUNCTION_CALL"
    assert whole["usageMetadata"]["candidatesTokenCount"] == 4  # the attempt is billed
    chunks = [
        f.json() for f in split_frames(_post(server, "streamGenerateContent", params={"alt": "sse"}).content)
    ]
    assert chunks[-1]["candidates"][0]["finishReason"] == "MALFORMED_FUNCTION_CALL"
    assert all("finishReason" not in c["candidates"][0] for c in chunks[:-1])
    sim.defaults = Scenario(finish_reason=None)
    assert _post(server, "generateContent").json()["candidates"][0]["finishReason"] == "STOP"
