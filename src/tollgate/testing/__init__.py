"""The upstream simulator: a faithful fake of the LLM providers' HTTP APIs (PROVIDERS.md Part A).

One ASGI app serves every provider under a path prefix (``Simulator.base_url(provider, root)``), with
knobs for latency, streaming pace, usage variants and failures (``Scenario``). Tests, the benchmark
and ``tollgate serve --demo`` use it; nothing reaches the network.

This package imports only ``tollgate.core`` and the pure wire codecs of ``tollgate.providers``
(AWS event-stream framing and the SigV4 verifier), and uvicorn to serve itself; the gateway never
imports it outside the demo and the CLI. Modules: ``_scenario`` (knobs), ``_tokens`` (deterministic
counts), ``_sse``/``_send`` (framing and the knob-aware writer), one module per API family (``_chat``
with ``_flavors``, ``_responses``, ``_embeddings``, ``_anthropic``, ``_gemini``, ``_cohere``,
``_azure``, ``_bedrock``, ``_vertex`` with ``_vertex_account``), ``_tools`` (forced tool calls),
``_errors``, ``_providers`` (prefixes, routes, auth), ``_simulator`` (the ASGI app) and ``_server``
(running it).
"""

from tollgate.testing._scenario import SCENARIO_HEADER, Scenario
from tollgate.testing._server import RunningSimulator, SimulatorServer, run_forever, serve_simulator
from tollgate.testing._simulator import Simulator
from tollgate.testing._tokens import MESSAGE_OVERHEAD, answer_text, count_prompt
from tollgate.testing._types import ReceivedRequest

__all__ = [
    "MESSAGE_OVERHEAD",
    "SCENARIO_HEADER",
    "ReceivedRequest",
    "RunningSimulator",
    "Scenario",
    "Simulator",
    "SimulatorServer",
    "answer_text",
    "count_prompt",
    "run_forever",
    "serve_simulator",
]
