"""Recorded response shapes (PROVIDERS.md Part A), shared by the metering and pricing tests.

Bodies are the parsed JSON a provider returns; streams are built from the same payloads with
``sse()`` so the bytes look like the wire: compact JSON for OpenAI-style chunks, Google's spaced
JSON and CRLF separators for Gemini, named events for Anthropic and the Responses API.
"""

from __future__ import annotations

import json
from typing import Any

import orjson

Json = dict[str, Any]


def sse(*blocks: Json | str | tuple[str, Json], crlf: bool = False, spaced: bool = False) -> bytes:
    """Encode blocks as SSE: a dict is a ``data:`` line, ``(name, dict)`` adds ``event: name``,
    a string is written as-is (``"[DONE]"`` becomes a data line, ``": x"`` a comment)."""
    out: list[str] = []
    for block in blocks:
        if isinstance(block, str):
            out.append(block if block.startswith(":") else f"data: {block}")
            continue
        name, payload = block if isinstance(block, tuple) else (None, block)
        data = json.dumps(payload) if spaced else orjson.dumps(payload).decode()
        out.append(f"event: {name}\ndata: {data}" if name else f"data: {data}")
    eol = "\r\n" if crlf else "\n"
    return "".join(block.replace("\n", eol) + eol + eol for block in out).encode()


# -- OpenAI Chat Completions ------------------------------------------------------------------

OPENAI_CHAT_CACHED: Json = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "created": 1763800000,
    "model": "gpt-4o-2024-08-06",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hi"}, "finish_reason": "stop"}],
    "usage": {
        "prompt_tokens": 2006,
        "completion_tokens": 300,
        "total_tokens": 2306,
        "prompt_tokens_details": {"cached_tokens": 1920, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": 0,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    },
}

OPENAI_CHAT_REASONING: Json = {
    "id": "chatcmpl-2",
    "object": "chat.completion",
    "model": "o3-mini-2025-01-31",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "42"}, "finish_reason": "stop"}],
    "usage": {
        "prompt_tokens": 150,
        "completion_tokens": 900,
        "total_tokens": 1050,
        "prompt_tokens_details": {"cached_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 640},
    },
}

OPENAI_CHAT_CACHE_WRITE: Json = {
    "id": "chatcmpl-3",
    "object": "chat.completion",
    "model": "gpt-5.6-cyber",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "length"}],
    "usage": {
        "prompt_tokens": 10000,
        "completion_tokens": 50,
        "total_tokens": 10050,
        "prompt_tokens_details": {"cached_tokens": 4000, "cache_write_tokens": 5000},
        "completion_tokens_details": {"reasoning_tokens": 0},
    },
}

OPENAI_EMBEDDINGS: Json = {
    "object": "list",
    "data": [{"object": "embedding", "index": 0, "embedding": "AAAA"}],
    "model": "text-embedding-3-small",
    "usage": {"prompt_tokens": 8, "total_tokens": 8},
}

# -- OpenAI Responses -------------------------------------------------------------------------

RESPONSES_COMPLETED: Json = {
    "id": "resp_1",
    "object": "response",
    "status": "completed",
    "model": "gpt-5-2025-08-07",
    "output": [{"type": "message", "content": [{"type": "output_text", "text": "Hi"}]}],
    "error": None,
    "incomplete_details": None,
    "usage": {
        "input_tokens": 1200,
        "input_tokens_details": {"cached_tokens": 1024},
        "output_tokens": 900,
        "output_tokens_details": {"reasoning_tokens": 640},
        "total_tokens": 2100,
    },
}

# -- Anthropic Messages -----------------------------------------------------------------------

ANTHROPIC_PLAIN: Json = {
    "id": "msg_1",
    "type": "message",
    "role": "assistant",
    "model": "claude-3-5-sonnet-20241022",
    "content": [{"type": "text", "text": "Hi"}],
    "stop_reason": "end_turn",
    "usage": {"input_tokens": 1000, "cache_read_input_tokens": 2000, "output_tokens": 500},
}

ANTHROPIC_CACHE_1H: Json = {
    "id": "msg_2",
    "type": "message",
    "role": "assistant",
    "model": "claude-sonnet-4-5-20250929",
    "content": [{"type": "text", "text": "Hi"}],
    "stop_reason": "end_turn",
    "usage": {
        "input_tokens": 100,
        "cache_creation_input_tokens": 3000,
        "cache_read_input_tokens": 5000,
        "cache_creation": {"ephemeral_5m_input_tokens": 1000, "ephemeral_1h_input_tokens": 2000},
        "output_tokens": 700,
        "output_tokens_details": {"thinking_tokens": 200},
        "server_tool_use": {"web_search_requests": 2, "web_fetch_requests": 1},
        "service_tier": "standard",
    },
}

ANTHROPIC_ERROR: Json = {
    "type": "error",
    "error": {"type": "overloaded_error", "message": "Overloaded"},
    "request_id": "req_1",
}

# -- Gemini -----------------------------------------------------------------------------------

GEMINI_THINKING: Json = {
    "candidates": [
        {"content": {"parts": [{"text": "Hi"}], "role": "model"}, "finishReason": "STOP", "index": 0}
    ],
    "usageMetadata": {
        "promptTokenCount": 5000,
        "candidatesTokenCount": 400,
        "totalTokenCount": 5700,
        "cachedContentTokenCount": 4000,
        "thoughtsTokenCount": 250,
        "toolUsePromptTokenCount": 50,
        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 5000}],
        "cacheTokensDetails": [{"modality": "TEXT", "tokenCount": 4000}],
    },
    "modelVersion": "gemini-2.5-flash",
    "responseId": "r1",
}

GEMINI_AUDIO: Json = {
    "candidates": [{"content": {"parts": [{"text": "Heard"}], "role": "model"}, "finishReason": "STOP"}],
    "usageMetadata": {
        "promptTokenCount": 1500,
        "candidatesTokenCount": 20,
        "totalTokenCount": 1520,
        "promptTokensDetails": [
            {"modality": "TEXT", "tokenCount": 300},
            {"modality": "AUDIO", "tokenCount": 1200},
        ],
    },
    "modelVersion": "gemini-2.5-flash",
}

GEMINI_ERROR: Json = {"error": {"code": 400, "message": "API key not valid", "status": "INVALID_ARGUMENT"}}

# -- OpenAI-compatible providers ----------------------------------------------------------------

DEEPSEEK_HIT: Json = {
    "id": "ds-1",
    "object": "chat.completion",
    "model": "deepseek-chat",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hi"}, "finish_reason": "stop"}],
    "usage": {
        "prompt_tokens": 1000,
        "completion_tokens": 200,
        "total_tokens": 1200,
        "prompt_cache_hit_tokens": 640,
        "prompt_cache_miss_tokens": 360,
    },
}

DEEPSEEK_HIT_AND_DETAILS: Json = {
    **DEEPSEEK_HIT,
    "usage": {**DEEPSEEK_HIT["usage"], "prompt_tokens_details": {"cached_tokens": 640}},
}

XAI_REASONING_SEPARATE: Json = {  # completion_tokens excludes reasoning: total proves it
    "id": "x-1",
    "object": "chat.completion",
    "model": "grok-4-0709",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hi"}, "finish_reason": "stop"}],
    "usage": {
        "prompt_tokens": 700,
        "completion_tokens": 100,
        "total_tokens": 1100,
        "prompt_tokens_details": {
            "text_tokens": 700,
            "cached_tokens": 600,
            "audio_tokens": 0,
            "image_tokens": 0,
        },
        "completion_tokens_details": {"reasoning_tokens": 300, "audio_tokens": 0},
        "num_sources_used": 0,
        "cost_in_usd_ticks": 55_550_000,
    },
}

XAI_REASONING_INCLUDED: Json = {  # total == prompt + completion: reasoning is already in completion
    **XAI_REASONING_SEPARATE,
    "usage": {**XAI_REASONING_SEPARATE["usage"], "completion_tokens": 400, "total_tokens": 1100},
}

OPENROUTER_CHAT: Json = {
    "id": "gen-1",
    "object": "chat.completion",
    "model": "anthropic/claude-3.5-sonnet",
    "provider": "Anthropic",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hi"}, "finish_reason": "stop"}],
    "usage": {
        "prompt_tokens": 1200,
        "completion_tokens": 80,
        "total_tokens": 1280,
        "cost": 0.00468,
        "is_byok": False,
        "prompt_tokens_details": {"cached_tokens": 0},
        "cost_details": {"upstream_inference_cost": None},
        "completion_tokens_details": {"reasoning_tokens": 0},
    },
}

PERPLEXITY_SONAR: Json = {
    "id": "pplx-1",
    "model": "sonar-pro",
    "object": "chat.completion",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hi [1]"}, "finish_reason": "stop"}],
    "citations": ["https://example.com"],
    "usage": {
        "prompt_tokens": 30,
        "completion_tokens": 400,
        "total_tokens": 430,
        "search_context_size": "low",
        "cost": {
            "input_tokens_cost": 0.00009,
            "output_tokens_cost": 0.006,
            "request_cost": 0.006,
            "total_cost": 0.01209,
        },
    },
}

PERPLEXITY_DEEP_RESEARCH: Json = {
    "id": "pplx-2",
    "model": "sonar-deep-research",
    "object": "chat.completion",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "Report"}, "finish_reason": "stop"}],
    "usage": {
        "prompt_tokens": 15,
        "completion_tokens": 3821,
        "total_tokens": 3836,
        "citation_tokens": 4985,
        "num_search_queries": 18,
        "reasoning_tokens": 96340,
    },
}

MISTRAL_CHAT: Json = {
    "id": "m-1",
    "object": "chat.completion",
    "model": "mistral-large-latest",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hi"}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 900, "completion_tokens": 120, "total_tokens": 1020},
}

TOGETHER_CHAT: Json = {
    "id": "t-1",
    "object": "chat.completion",
    "model": "meta-llama/Llama-3.3-70B-Instruct-Turbo",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hi"}, "finish_reason": "eos"}],
    "usage": {"prompt_tokens": 500, "completion_tokens": 60, "total_tokens": 560, "cached_tokens": 0},
}

AZURE_CHAT: Json = {
    **OPENAI_CHAT_CACHED,
    "model": "gpt-4o-2024-08-06",
    "prompt_filter_results": [{"prompt_index": 0, "content_filter_results": {"hate": {"filtered": False}}}],
}

COHERE_CHAT: Json = {
    "id": "c-1",
    "finish_reason": "COMPLETE",
    "message": {"role": "assistant", "content": [{"type": "text", "text": "Hi"}]},
    "usage": {
        "billed_units": {"input_tokens": 1234.0, "output_tokens": 56.0},
        "tokens": {"input_tokens": 1900.0, "output_tokens": 58.0},
        "cached_tokens": 0.0,
    },
}

BEDROCK_CONVERSE: Json = {
    "output": {"message": {"role": "assistant", "content": [{"text": "Hi"}]}},
    "stopReason": "end_turn",
    "usage": {
        "inputTokens": 100,
        "outputTokens": 300,
        "totalTokens": 5400,
        "cacheReadInputTokens": 2000,
        "cacheWriteInputTokens": 3000,
        "cacheDetails": [{"ttl": "5m", "inputTokens": 1000}, {"ttl": "1h", "inputTokens": 2000}],
    },
    "metrics": {"latencyMs": 900},
}
