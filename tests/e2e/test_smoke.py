from __future__ import annotations

import openai

from tests.support.gateway import Tenant


def test_openai_sdk_chat_is_tracked(tenant: Tenant) -> None:
    client = openai.OpenAI(base_url=tenant.url + "/v1", api_key=tenant.key)
    raw = client.chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "Hello there"}]
    )
    completion = raw.parse()
    assert completion.choices[0].message.content
    request_id = raw.headers["x-tollgate-request-id"]
    record = tenant.record(request_id)
    assert record["provider"] == "openai"
    assert record["inputTokens"] == completion.usage.prompt_tokens
    assert record["outputTokens"] == completion.usage.completion_tokens
    assert record["costUsd"] == raw.headers["x-tollgate-cost"]
