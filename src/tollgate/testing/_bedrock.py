"""AWS Bedrock Converse and ConverseStream (PROVIDERS.md A.6).

Routes, under the provider's prefix: ``POST /model/{modelId}/converse`` and
``POST /model/{modelId}/converse-stream`` (the id percent-encoded, ``:`` as ``%3A``).

Auth is either a SigV4 signature (service ``bedrock``), recomputed here from the request and the
secret the credential table holds for its access key id, or ``Authorization: Bearer <Bedrock API key>``.
A signature that does not check out gets 403 with the exception AWS names (``InvalidSignatureException``,
``UnrecognizedClientException``, …). The path is re-encoded the way the AWS SDKs encode it before
checking, since the server hands the simulator the decoded path.

Usage: ``inputTokens`` excludes ``cacheReadInputTokens`` and ``cacheWriteInputTokens``; ``outputTokens``
includes reasoning; ``totalTokens`` is the sum of all four. ConverseStream answers
``application/vnd.amazon.eventstream`` frames: ``messageStart``, (reasoning: ``contentBlockDelta`` ×2 and
``contentBlockStop`` on block 0), ``contentBlockDelta`` × N, ``contentBlockStop``, ``messageStop``, then
``metadata {usage, metrics}``; every payload carries the random-length ``p`` padding field. An in-stream
error is an ``exception`` frame (``throttlingException``) inside the 200.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from functools import partial
from types import MappingProxyType
from typing import Any

from tollgate.core import jsonx
from tollgate.providers.eventstream import CONTENT_TYPE, encode_event, event_headers, exception_headers
from tollgate.providers.sigv4 import SignatureRejected, bedrock_path, verify_sigv4
from tollgate.testing._errors import format_retry_after
from tollgate.testing._tokens import Tally, answer_pieces, answer_text, count_prompt, tally
from tollgate.testing._types import Call, Handler, Headers, Reply, StreamPlan

SIM_ACCESS_KEY_ID = "AKIASIMULATOR"
SIM_SECRET_ACCESS_KEY = "simulator/Secret+Access/Key0000000000000"  # fixed: tests sign with it
DEFAULT_CREDENTIALS: Mapping[str, str] = MappingProxyType({SIM_ACCESS_KEY_ID: SIM_SECRET_ACCESS_KEY})
EVENT_STREAM = CONTENT_TYPE.encode()
_PADDING = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456"

_ERROR_TYPES: Mapping[int, tuple[str, str]] = MappingProxyType(
    {
        400: ("ValidationException", "Malformed input request, please reformat your input and try again."),
        403: ("AccessDeniedException", "You don't have access to the model with the specified model ID."),
        404: ("ResourceNotFoundException", "The requested resource could not be found."),
        408: ("ModelTimeoutException", "Model has timed out in processing the request."),
        424: ("ModelErrorException", "The model produced an error."),
        429: ("ThrottlingException", "Too many requests, please wait before trying again."),
        500: ("InternalServerException", "The server encountered an internal error."),
        503: ("ServiceUnavailableException", "The service is temporarily unable to handle the request."),
    }
)


def bedrock_error_reply(
    status: int,
    message: str | None = None,
    *,
    error_type: str | None = None,
    retry_after: float | None = None,
    request_id: str = "00000000-0000-0000-0000-000000000000",
) -> Reply:
    """A Bedrock error: ``{"message"}`` with the exception named in ``x-amzn-ErrorType``."""
    default_type, text = _ERROR_TYPES.get(
        status, ("InternalServerException" if status >= 500 else "ValidationException", "")
    )
    kind = error_type or default_type
    headers: Headers = (
        (b"x-amzn-errortype", f"{kind}:http://internal.amazon.com/coral/com.amazon.bedrock/".encode()),
        (b"x-amzn-requestid", request_id.encode()),
    )
    if retry_after is not None:
        headers = (*headers, (b"retry-after", format_retry_after(retry_after)))
    return Reply(status, jsonx.dumps({"message": message or text}), headers)


def bedrock_key(headers: Mapping[str, str]) -> str | None:
    """The key a request presents: a SigV4 signature's access key id, or a Bedrock API key (Bearer)."""
    value = headers.get("authorization", "").strip()
    scheme, _, rest = value.partition(" ")
    if scheme.lower() == "bearer":
        return rest.strip() or None
    if scheme == "AWS4-HMAC-SHA256":
        credential = rest.partition("Credential=")[2]
        return credential.partition("/")[0].strip() or None
    return None


def bedrock_route(
    credentials: Mapping[str, str] = DEFAULT_CREDENTIALS, region: str | None = None
) -> Callable[[str, str], Handler | None]:
    """The resolver for ``/model/{modelId}/{converse|converse-stream}``.

    ``credentials`` maps access key ids to secrets for SigV4; ``region=None`` accepts any region.
    """
    table = MappingProxyType(dict(credentials))

    def resolve(method: str, rest: str) -> Handler | None:
        if method != "POST" or not rest.startswith("/model/"):
            return None
        model, _, operation = rest[len("/model/") :].rpartition("/")
        if not model or operation not in ("converse", "converse-stream"):
            return None
        return partial(_converse, model=model, stream=operation == "converse-stream", auth=(table, region))

    return resolve


def _request_id(call: Call) -> str:
    """A UUID-shaped ``x-amzn-RequestId``, unique per call."""
    return f"{call.serial & 0xFFFFFFFF:08x}-0000-4000-8000-{call.serial & 0xFFFFFFFFFFFF:012x}"


def _authenticate(
    call: Call, model: str, stream: bool, auth: tuple[Mapping[str, str], str | None]
) -> Reply | None:
    request = call.request
    if (request.header("authorization") or "").lower().startswith("bearer "):
        return None  # a Bedrock API key: the simulator's key check already accepted it
    operation = "converse-stream" if stream else "converse"
    prefix = request.path[: request.path.find("/model/")]
    secrets, region = auth
    try:
        verify_sigv4(
            request.method,
            prefix + bedrock_path(model, operation),
            request.query_string,
            request.headers,
            request.body,
            secrets=secrets,
            region=region,
            now=datetime.fromtimestamp(call.created, UTC),
        )
    except SignatureRejected as exc:
        return bedrock_error_reply(403, exc.message, error_type=exc.aws_type, request_id=_request_id(call))
    return None


def _invalid(call: Call) -> Reply | None:
    body = call.request.json
    if not isinstance(body, dict):
        return bedrock_error_reply(400, "Malformed input request: the body is not a JSON object.")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return bedrock_error_reply(
            400,
            "A conversation must start with a user message. Try again with a conversation "
            "that starts with a user message.",
        )
    if not isinstance(body.get("inferenceConfig") or {}, dict):
        return bedrock_error_reply(400, "Malformed input request: inferenceConfig must be an object.")
    return None


def _converse(
    call: Call, *, model: str, stream: bool, auth: tuple[Mapping[str, str], str | None]
) -> Reply | StreamPlan:
    request_id = _request_id(call)
    problem = _authenticate(call, model, stream, auth) or _invalid(call)
    if problem is not None:
        return problem
    body = call.body
    max_tokens = (body.get("inferenceConfig") or {}).get("maxTokens")
    counts = tally(call.scenario, count_prompt(body["messages"], body.get("system")), max_tokens)
    stop = "max_tokens" if counts.truncated else "end_turn"
    metrics = {"latencyMs": max(int(call.scenario.latency * 1000), 1) + 100}
    headers: Headers = ((b"x-amzn-requestid", request_id.encode()),)
    if stream:
        return _stream(call, counts, stop, metrics, headers)
    content: list[dict[str, Any]] = [{"text": answer_text(counts.visible)}]
    if counts.reasoning:
        content.insert(0, {"reasoningContent": {"reasoningText": _reasoning(counts)}})
    answer: dict[str, Any] = {
        "output": {"message": {"role": "assistant", "content": content}},
        "stopReason": stop,
        "metrics": metrics,
    }
    if not call.scenario.omit_usage:
        answer["usage"] = _usage(counts)
    return Reply(200, jsonx.dumps(answer), headers, answer=True)


def _reasoning(counts: Tally) -> dict[str, str]:
    return {"text": " ".join(f"think{i}" for i in range(1, counts.reasoning + 1)), "signature": "c2ln"}


def _usage(t: Tally) -> dict[str, Any]:
    usage: dict[str, Any] = {
        "inputTokens": t.uncached,
        "outputTokens": t.output_total,
        "totalTokens": t.input_total + t.output_total,
        "cacheReadInputTokens": t.cache_read,
        "cacheWriteInputTokens": t.cache_write,
    }
    details = [
        {"ttl": ttl, "inputTokens": n} for ttl, n in (("5m", t.cache_write_5m), ("1h", t.cache_write_1h)) if n
    ]
    if details:
        usage["cacheDetails"] = details
    return usage


def _stream(call: Call, counts: Tally, stop: str, metrics: dict[str, int], headers: Headers) -> StreamPlan:
    rng = random.Random(call.serial)  # the padding is random-looking but reproducible per call

    def frame(event: str, payload: dict[str, Any]) -> bytes:
        padded = {**payload, "p": _PADDING[: rng.randint(1, len(_PADDING))]}
        return encode_event(event_headers(event), jsonx.dumps(padded))

    head = [frame("messageStart", {"role": "assistant"})]
    index = 0
    if counts.reasoning:
        reasoning = _reasoning(counts)
        head += [
            frame(
                "contentBlockDelta",
                {"contentBlockIndex": 0, "delta": {"reasoningContent": {"text": reasoning["text"]}}},
            ),
            frame(
                "contentBlockDelta",
                {
                    "contentBlockIndex": 0,
                    "delta": {"reasoningContent": {"signature": reasoning["signature"]}},
                },
            ),
            frame("contentBlockStop", {"contentBlockIndex": 0}),
        ]
        index = 1
    content = [
        frame("contentBlockDelta", {"contentBlockIndex": index, "delta": {"text": piece}})
        for piece in answer_pieces(counts.visible, call.scenario.chunks)
    ]
    metadata: dict[str, Any] = {"metrics": metrics}
    if not call.scenario.omit_usage:
        metadata["usage"] = _usage(counts)
    tail = [
        frame("contentBlockStop", {"contentBlockIndex": index}),
        frame("messageStop", {"stopReason": stop}),
        frame("metadata", metadata),
    ]
    message = call.scenario.error_message or "Too many tokens, please wait before trying again."

    def error(_sent: int) -> bytes:
        return encode_event(exception_headers("throttlingException"), jsonx.dumps({"message": message}))

    return StreamPlan(head, content, tail, error, headers, EVENT_STREAM)
