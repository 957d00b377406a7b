"""The error code a record gets: the provider's own for an error answer, ``upstream_finish_<reason>``
for a 200 whose generation failed; and the failed finish reasons agree with what the doors refuse."""

from __future__ import annotations

from typing import Any

import pytest

from tests.providers.shapes import sse
from tollgate.providers.base import Operation
from tollgate.providers.error_codes import FAILED_FINISH, finish_error, stated_code, upstream_error_code
from tollgate.providers.normalize import Family
from tollgate.providers.registry import Family as ProviderFamily
from tollgate.providers.sse import SseDecoder
from tollgate.providers.streams import open_stream_meter
from tollgate.providers.translate import cohere as cohere_translation
from tollgate.providers.translate import gemini as gemini_translation
from tollgate.providers.translate.hub import FinishReason
from tollgate.providers.usage import meter_body
from tollgate.testing._errors import ErrorStyle, error_payload

AWS_TYPE = "ValidationException:http://internal.amazon.com/coral/com.amazon.bedrock/"


@pytest.mark.parametrize(
    ("family", "body", "code"),
    [
        ("openai", error_payload(ErrorStyle.OPENAI, 429), "rate_limit_exceeded"),  # error.code
        ("openai", error_payload(ErrorStyle.OPENAI, 500), "server_error"),  # no code: error.type
        ("openai", error_payload(ErrorStyle.MISTRAL, 400, code="invalid_model"), "invalid_model"),
        ("openai", error_payload(ErrorStyle.OPENROUTER, 429), None),  # a number says no more than 429
        ("openai", {"error": {"code": "DeploymentNotFound", "message": "no"}}, "DeploymentNotFound"),  # Azure
        ("anthropic", error_payload(ErrorStyle.ANTHROPIC, 529), "overloaded_error"),
        ("gemini", error_payload(ErrorStyle.GEMINI, 429), "RESOURCE_EXHAUSTED"),
        ("vertex", error_payload(ErrorStyle.GEMINI, 403), "PERMISSION_DENIED"),
        ("vertex", error_payload(ErrorStyle.ANTHROPIC, 429), "rate_limit_error"),  # Claude on Vertex
        ("cohere", error_payload(ErrorStyle.COHERE, 429), None),  # Cohere states no code
        ("openai", {"error": {"code": "no spaces or </html> please", "type": None}}, None),
        ("openai", {"error": {"type": "x" * 65}}, None),  # not an identifier: not kept
        ("gemini", None, None),  # not JSON
        ("anthropic", ["not", "an", "object"], None),
    ],
)
def test_the_code_an_error_body_states(family: ProviderFamily, body: Any, code: str | None) -> None:
    assert upstream_error_code(family, body, []) == code


@pytest.mark.parametrize(
    ("headers", "body", "code"),
    [
        ([("x-amzn-errortype", AWS_TYPE)], {"message": "Malformed input request"}, "ValidationException"),
        ([("X-Amzn-ErrorType", "ThrottlingException")], {"message": "Rate exceeded"}, "ThrottlingException"),
        (
            [],
            {"__type": "com.amazon.coral.validate#ValidationException", "message": "no"},
            "ValidationException",
        ),
        ([], {"__type": "AccessDeniedException"}, "AccessDeniedException"),
        ([("x-amzn-errortype", "")], {"message": "nothing named"}, None),
        ([], None, None),
    ],
)
def test_the_aws_error_type_comes_from_the_header_else_the_body(
    headers: list[tuple[str, str]], body: Any, code: str | None
) -> None:
    assert upstream_error_code("bedrock", body, headers) == code


def test_stated_code_reads_code_then_type_then_status_and_skips_plain_error() -> None:
    assert stated_code({"type": "error", "error": {"type": "api_error"}}) == "api_error"
    assert stated_code({"code": "upstream_finish_error", "type": "x"}) == "upstream_finish_error"
    assert stated_code({"message": "only words"}) is None


GEMINI_FAILED: dict[str, Any] = {
    "candidates": [{"content": {"parts": [{"text": "tok1"}], "role": "model"}, "finishReason": "X"}],
    "usageMetadata": {"promptTokenCount": 12, "candidatesTokenCount": 7, "totalTokenCount": 19},
    "modelVersion": "gemini-2.5-flash",
}


def with_finish(reason: str) -> dict[str, Any]:
    return {**GEMINI_FAILED, "candidates": [{**GEMINI_FAILED["candidates"][0], "finishReason": reason}]}


@pytest.mark.parametrize("reason", ["MALFORMED_FUNCTION_CALL", "UNEXPECTED_TOOL_CALL", "OTHER"])
def test_a_gemini_answer_that_failed_keeps_its_usage_and_reports_an_error(reason: str) -> None:
    result = meter_body("gemini", Operation.GENERATE, with_finish(reason))
    assert result.usage is not None and result.usage.output_tokens == 7  # billed all the same
    assert result.finish_reason == reason
    assert result.error is not None and result.error["code"] == f"upstream_finish_{reason.lower()}"


@pytest.mark.parametrize("reason", ["ERROR", "TIMEOUT"])
def test_a_cohere_answer_that_failed_keeps_its_usage_and_reports_an_error(reason: str) -> None:
    body = {
        "id": "c0ffee",
        "message": {"role": "assistant", "content": []},
        "finish_reason": reason,
        "usage": {"billed_units": {"input_tokens": 30, "output_tokens": 4}},
    }
    result = meter_body("cohere", Operation.CHAT, body)
    assert result.usage is not None and result.usage.input_tokens == 30 and result.usage.output_tokens == 4
    assert result.error is not None and result.error["code"] == f"upstream_finish_{reason.lower()}"


@pytest.mark.parametrize("reason", ["STOP", "MAX_TOKENS", "SAFETY"])
def test_a_finish_that_is_not_a_failure_is_no_error(reason: str) -> None:
    assert meter_body("gemini", Operation.GENERATE, with_finish(reason)).error is None
    assert finish_error(Family.COHERE, "COMPLETE") is None and finish_error(None, "ERROR") is None


def test_a_gemini_stream_that_ends_in_a_failed_finish_is_the_streams_error() -> None:
    first = {**GEMINI_FAILED, "candidates": [{"content": {"parts": [{"text": "tok1"}]}, "index": 0}]}
    meter = open_stream_meter("gemini", Operation.GENERATE, drop_usage_chunk=False)
    for event in SseDecoder().feed(sse(first, with_finish("MALFORMED_FUNCTION_CALL"))):
        meter.observe(event)
    result = meter.result()
    assert meter.complete and result.usage is not None and result.usage.output_tokens == 7
    assert result.error is not None and result.error["code"] == "upstream_finish_malformed_function_call"


@pytest.mark.parametrize(
    ("wire", "finish"),
    [(Family.GEMINI, gemini_translation.FINISH), (Family.COHERE, cohere_translation.FINISH)],
)
def test_the_failed_finishes_are_the_ones_the_doors_refuse(wire: Family, finish: Any) -> None:
    refused = {native for native, reason in finish.items() if reason is FinishReason.ERROR}
    assert FAILED_FINISH[wire] == refused
