"""Properties: whatever the text, arguments or counts, they survive every translation path."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from tollgate.pricing.usage import NormalizedUsage
from tollgate.providers import normalize
from tollgate.providers.translate import anthropic, anthropic_door, gemini, openai_chat, openai_upstream
from tollgate.providers.translate.hub import (
    Finish,
    FinishReason,
    HubResponse,
    HubStreamEvent,
    TextDelta,
    TextPart,
    ToolCallDelta,
    ToolCallPart,
    ToolCallStart,
    UsageUpdate,
)

texts = st.text(min_size=1)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=10,
)
arguments = st.dictionaries(st.text(), json_values, max_size=4)
counts = st.integers(min_value=0, max_value=10**9)


@given(st.lists(texts, min_size=1, max_size=4), texts)
def test_openai_request_text_survives_anthropic_and_back(turns: list[str], system: str) -> None:
    messages: list[dict[str, Any]] = [{"role": "system", "content": system}]
    for i, t in enumerate(turns):
        messages.append({"role": "user" if i % 2 == 0 else "assistant", "content": t})
    hub = openai_chat.request_to_hub({"messages": messages}, "m")
    body = anthropic.request_body(hub)
    again = anthropic_door.request_to_hub(body, "m")
    assert again.system == system
    assert [(m.role, m.parts) for m in again.messages] == [
        (m.role, tuple(b for b in m.parts)) for m in hub.messages
    ]
    contents = gemini.request_body(hub)["contents"]
    assert [p["text"] for c in contents for p in c["parts"]] == turns


@given(texts, arguments)
def test_response_text_and_arguments_survive_every_door(text: str, args: dict[str, Any]) -> None:
    resp = HubResponse(
        "r", "m", (TextPart(text), ToolCallPart("c1", "f", json.dumps(args))), FinishReason.TOOL_CALLS
    )
    via_anthropic = anthropic.response_to_hub(anthropic_door.response_body(resp, target="t"))
    via_openai = openai_upstream.response_to_hub(openai_chat.response_body(resp, created=0, target="t"))
    for back in (via_anthropic, via_openai):
        assert back.text == text
        assert json.loads(back.tool_calls[0].arguments) == args
        assert back.finish_reason is FinishReason.TOOL_CALLS


@given(st.lists(texts, max_size=5), arguments, st.integers(min_value=1, max_value=7))
def test_streamed_text_and_split_arguments_survive(
    fragments: list[str], args: dict[str, Any], cut: int
) -> None:
    raw = json.dumps(args)
    pieces = [raw[i : i + cut] for i in range(0, len(raw), cut)]
    usage = NormalizedUsage(input_tokens=3, output_tokens=4)
    events: list[HubStreamEvent] = [TextDelta(f) for f in fragments]
    events += [ToolCallStart(0, "c1", "f"), *(ToolCallDelta(0, p) for p in pieces)]
    events += [Finish(FinishReason.TOOL_CALLS), UsageUpdate(usage)]

    enc = openai_chat.ChunkEncoder("id", 0, "m", include_usage=True)
    reader = openai_upstream.StreamReader()
    chunks = [c for e in events for c in enc.encode(e)] + enc.close()
    from_openai = [e for c in chunks for e in reader.feed(c)]

    anth = anthropic_door.EventEncoder("id", "m")
    areader = anthropic.StreamReader()
    frames = [f for e in events for f in anth.encode(e)] + anth.close()
    from_anthropic = [e for name, data in frames for e in areader.feed(name, data)]

    for back in (from_openai, from_anthropic):
        assert "".join(e.text for e in back if isinstance(e, TextDelta)) == "".join(fragments)
        assert json.loads("".join(e.arguments for e in back if isinstance(e, ToolCallDelta))) == args
        assert [e.usage for e in back if isinstance(e, UsageUpdate)][-1] == usage
        assert any(isinstance(e, Finish) and e.reason is FinishReason.TOOL_CALLS for e in back)


@given(counts, counts, counts, counts, st.integers(min_value=0, max_value=100))
def test_usage_survives_both_door_semantics(fresh: int, read: int, written: int, out: int, pct: int) -> None:
    usage = NormalizedUsage(
        input_tokens=fresh,
        cache_read_tokens=read,
        cache_write_tokens=written,
        output_tokens=out,
        reasoning_tokens=out * pct // 100,
    )
    assert normalize.openai_chat("openai", openai_chat.usage_body(usage)) == usage
    assert normalize.anthropic("anthropic", anthropic_door.usage_body(usage)) == usage
