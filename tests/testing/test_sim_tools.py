"""A request that forces a tool gets a call to it, in each provider's own shape (``testing/_tools``)."""

from __future__ import annotations

import json
from typing import Any

import anthropic
import botocore.config
import botocore.session
import cohere
import httpx2
import openai
from sim_helpers import split_frames

from tollgate.testing import Scenario, Simulator, SimulatorServer
from tollgate.testing._bedrock import SIM_ACCESS_KEY_ID, SIM_REGION, SIM_SECRET_ACCESS_KEY

ASK: Any = [{"role": "user", "content": "total of invoice 7?"}]
ARGUMENTS = {"query": "tok1 tok2 tok3 tok4 tok5 tok6"}


def test_openai_chat_calls_the_forced_tool_plain_and_streamed(
    server: SimulatorServer, sim: Simulator
) -> None:
    sim.defaults = Scenario(output_tokens=6, chunks=3)
    client = openai.OpenAI(base_url=server.base_url("openai"), api_key="sk-test", max_retries=0)
    tools: Any = [{"type": "function", "function": {"name": "get_invoice", "parameters": {"type": "object"}}}]
    plain = client.chat.completions.create(
        model="gpt-4o-mini", messages=ASK, tools=tools, tool_choice="required"
    )
    call = (plain.choices[0].message.tool_calls or [])[0]
    assert plain.choices[0].finish_reason == "tool_calls" and plain.choices[0].message.content is None
    assert call.function.name == "get_invoice" and json.loads(call.function.arguments) == ARGUMENTS
    assert plain.usage is not None and plain.usage.completion_tokens == 6
    with client.chat.completions.stream(
        model="gpt-4o-mini", messages=ASK, tools=tools, tool_choice="required"
    ) as s:
        deltas = [e for e in s if e.type == "tool_calls.function.arguments.delta"]
        final = s.get_final_completion()
    streamed = (final.choices[0].message.tool_calls or [])[0]
    assert len(deltas) == 3 and json.loads(streamed.function.arguments) == ARGUMENTS
    assert final.choices[0].finish_reason == "tool_calls"


def test_anthropic_calls_the_named_tool_plain_and_streamed(server: SimulatorServer, sim: Simulator) -> None:
    sim.defaults = Scenario(output_tokens=6, chunks=3)
    client = anthropic.Anthropic(base_url=server.base_url("anthropic"), api_key="sk-ant-test", max_retries=0)
    tools: Any = [
        {"name": "lookup", "input_schema": {"type": "object"}},
        {"name": "get_invoice", "input_schema": {"type": "object"}},
    ]
    choice: Any = {"type": "tool", "name": "get_invoice"}
    plain = client.messages.create(
        model="claude-haiku-4-5", max_tokens=100, messages=ASK, tools=tools, tool_choice=choice
    )
    assert plain.stop_reason == "tool_use" and plain.content[0].type == "tool_use"
    assert plain.content[0].name == "get_invoice" and plain.content[0].input == ARGUMENTS
    with client.messages.stream(
        model="claude-haiku-4-5", max_tokens=100, messages=ASK, tools=tools, tool_choice=choice
    ) as stream:
        pieces = [e for e in stream if e.type == "input_json"]
        final = stream.get_final_message()
    assert len(pieces) == 3 and final.content[0].type == "tool_use" and final.content[0].input == ARGUMENTS


def test_gemini_calls_the_allowed_function_whole(server: SimulatorServer, sim: Simulator) -> None:
    sim.defaults = Scenario(output_tokens=6)
    body = {
        "contents": [{"role": "user", "parts": [{"text": "total of invoice 7?"}]}],
        "tools": [{"functionDeclarations": [{"name": "lookup"}, {"name": "get_invoice"}]}],
        "toolConfig": {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["get_invoice"]}},
    }
    base = server.base_url("gemini") + "/v1beta/models/gemini-2.5-flash"
    headers = {"x-goog-api-key": "AIza-test"}
    plain = httpx2.post(base + ":generateContent", json=body, headers=headers, timeout=10).json()
    assert plain["candidates"][0]["content"]["parts"] == [
        {"functionCall": {"name": "get_invoice", "args": ARGUMENTS}}
    ]
    streamed = httpx2.post(base + ":streamGenerateContent?alt=sse", json=body, headers=headers, timeout=10)
    chunks = [frame.json() for frame in split_frames(streamed.content) if frame.data]
    calls = [p for c in chunks for p in c["candidates"][0]["content"]["parts"] if "functionCall" in p]
    assert calls == [{"functionCall": {"name": "get_invoice", "args": ARGUMENTS}}]
    assert chunks[-1]["candidates"][0]["finishReason"] == "STOP"


def test_cohere_required_calls_the_first_tool_plain_and_streamed(
    server: SimulatorServer, sim: Simulator
) -> None:
    sim.defaults = Scenario(output_tokens=6, chunks=3)
    client = cohere.ClientV2(api_key="co-test", base_url=server.base_url("cohere"))
    tools: Any = [
        {"type": "function", "function": {"name": "get_invoice", "parameters": {"type": "object"}}},
        {"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}},
    ]
    plain = client.chat(model="command-a-03-2025", messages=ASK, tools=tools, tool_choice="REQUIRED")
    assert plain.finish_reason == "TOOL_CALL" and plain.message.tool_plan
    (call,) = plain.message.tool_calls or []
    assert call.function is not None and call.function.name == "get_invoice"
    assert json.loads(call.function.arguments or "") == ARGUMENTS
    assert plain.usage is not None and plain.usage.billed_units is not None
    assert plain.usage.billed_units.output_tokens == 6
    events = list(
        client.chat_stream(model="command-a-03-2025", messages=ASK, tools=tools, tool_choice="REQUIRED")
    )
    kinds = [e.type for e in events]
    assert kinds == [
        "message-start",
        "tool-plan-delta",
        "tool-call-start",
        *["tool-call-delta"] * 3,
        "tool-call-end",
        "message-end",
    ]
    start = next(e for e in events if e.type == "tool-call-start")
    assert start.delta.message.tool_calls.function.name == "get_invoice"  # type: ignore[union-attr]
    pieces = [e.delta.message.tool_calls.function.arguments for e in events if e.type == "tool-call-delta"]  # type: ignore[union-attr]
    assert json.loads("".join(p or "" for p in pieces)) == ARGUMENTS
    assert events[-1].delta.finish_reason == "TOOL_CALL"  # type: ignore[union-attr]


def test_bedrock_calls_the_named_or_any_tool_plain_and_streamed(
    server: SimulatorServer, sim: Simulator
) -> None:
    sim.defaults = Scenario(output_tokens=6, chunks=3)
    client = botocore.session.get_session().create_client(
        "bedrock-runtime",
        region_name=SIM_REGION,
        endpoint_url=server.base_url("aws_bedrock"),
        aws_access_key_id=SIM_ACCESS_KEY_ID,
        aws_secret_access_key=SIM_SECRET_ACCESS_KEY,
        config=botocore.config.Config(retries={"max_attempts": 1}),
    )
    specs = [
        {"toolSpec": {"name": n, "inputSchema": {"json": {"type": "object"}}}}
        for n in ("lookup", "get_invoice")
    ]
    model = "anthropic.claude-3-5-haiku-20241022-v1:0"
    messages = [{"role": "user", "content": [{"text": "total of invoice 7?"}]}]
    named = {"tools": specs, "toolChoice": {"tool": {"name": "get_invoice"}}}
    plain = client.converse(modelId=model, messages=messages, toolConfig=named)
    assert plain["stopReason"] == "tool_use" and plain["usage"]["outputTokens"] == 6
    (block,) = plain["output"]["message"]["content"]
    assert block["toolUse"]["name"] == "get_invoice" and block["toolUse"]["input"] == ARGUMENTS
    assert block["toolUse"]["toolUseId"]
    anything = {"tools": specs, "toolChoice": {"any": {}}}
    events = list(client.converse_stream(modelId=model, messages=messages, toolConfig=anything)["stream"])
    kinds = [next(iter(event)) for event in events]
    assert kinds == [
        "messageStart",
        "contentBlockStart",
        *["contentBlockDelta"] * 3,
        "contentBlockStop",
        "messageStop",
        "metadata",
    ]
    assert events[1]["contentBlockStart"]["start"]["toolUse"]["name"] == "lookup"
    pieces = [e["contentBlockDelta"]["delta"]["toolUse"]["input"] for e in events[2:5]]
    assert json.loads("".join(pieces)) == ARGUMENTS
    assert events[-2]["messageStop"]["stopReason"] == "tool_use"
    client.close()


def test_an_unforced_tool_choice_still_answers_in_text(server: SimulatorServer, sim: Simulator) -> None:
    client = openai.OpenAI(base_url=server.base_url("openai"), api_key="sk-test", max_retries=0)
    tools: Any = [{"type": "function", "function": {"name": "get_invoice", "parameters": {"type": "object"}}}]
    plain = client.chat.completions.create(model="gpt-4o-mini", messages=ASK, tools=tools, tool_choice="auto")
    assert plain.choices[0].message.content and not plain.choices[0].message.tool_calls
