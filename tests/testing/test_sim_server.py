"""Running the simulator: background thread, inside a running loop, and in the foreground."""

from __future__ import annotations

import socket
import subprocess
import sys
import time

import httpx2
import pytest

from tollgate.testing import Simulator, SimulatorServer, serve_simulator

CHAT = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}


def test_base_urls_follow_each_sdks_convention() -> None:
    sim = Simulator()
    root = "http://127.0.0.1:9/"
    assert {provider: sim.base_url(provider, root) for provider in sim.providers} == {
        "google_vertex": "http://127.0.0.1:9/vertex",  # a credential's config.endpointUrl
        "google_vertex_oauth": "http://127.0.0.1:9/vertex-oauth",  # + /token: its config.tokenUri
        "openai": "http://127.0.0.1:9/openai/v1",
        "anthropic": "http://127.0.0.1:9/anthropic",
        "gemini": "http://127.0.0.1:9/gemini",
        "mistral": "http://127.0.0.1:9/mistral/v1",
        "deepseek": "http://127.0.0.1:9/deepseek",
        "xai": "http://127.0.0.1:9/xai/v1",
        "openrouter": "http://127.0.0.1:9/openrouter/api/v1",
        "together": "http://127.0.0.1:9/together/v1",
        "perplexity": "http://127.0.0.1:9/perplexity",
        "cohere": "http://127.0.0.1:9/cohere",
        "openai_compatible": "http://127.0.0.1:9/compat/v1",
        "azure_openai": "http://127.0.0.1:9/azure",  # a credential's config.endpoint
        "aws_bedrock": "http://127.0.0.1:9/bedrock",  # the us-east-1 runtime endpoint
    }
    with pytest.raises(ValueError, match="no-such-provider"):
        sim.base_url("no-such-provider", root)


def test_background_server_picks_a_free_port_and_stops() -> None:
    with SimulatorServer(Simulator()) as server:
        assert server.port > 0
        assert server.root == f"http://127.0.0.1:{server.port}"
        assert httpx2.get(
            server.base_url("openai") + "/models", headers={"authorization": "Bearer k"}
        ).is_success
    with pytest.raises(httpx2.ConnectError):
        httpx2.get(server.root + "/openai/v1/models")


async def test_serve_simulator_runs_inside_the_current_loop() -> None:
    sim = Simulator()
    running = await serve_simulator(sim, "127.0.0.1", 0)
    try:
        async with httpx2.AsyncClient() as client:
            response = await client.post(
                sim.base_url("openai", running.root) + "/chat/completions",
                json=CHAT,
                headers={"authorization": "Bearer k"},
            )
        assert response.json()["choices"][0]["message"]["content"].startswith("tok1")
    finally:
        await running.stop()
    assert running.task.done()
    assert len(sim.received) == 1


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def test_run_forever_serves_in_the_foreground() -> None:
    port = _free_port()
    code = f"from tollgate.testing import run_forever; run_forever('127.0.0.1', {port})"
    process = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                response = httpx2.post(
                    f"http://127.0.0.1:{port}/anthropic/v1/messages",
                    json={**CHAT, "max_tokens": 5},
                    headers={"x-api-key": "k", "anthropic-version": "2023-06-01"},
                )
                break
            except httpx2.ConnectError:
                assert process.poll() is None, process.communicate()[0]
                assert time.monotonic() < deadline
                time.sleep(0.05)
        assert response.json()["usage"]["output_tokens"] == 5
    finally:
        process.terminate()
        output = process.communicate(timeout=10)[0]
    assert f"simulating anthropic at http://127.0.0.1:{port}/anthropic".encode() in output
