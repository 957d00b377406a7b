"""AWS Bedrock Converse, ConverseStream, CountTokens and Claude's InvokeModel (PROVIDERS.md A.6), as
one regional endpoint.

Routes, under the provider's prefix: ``POST /model/{modelId}/converse``,
``POST /model/{modelId}/converse-stream``, ``POST /model/{modelId}/count-tokens``, and for Claude ids
(``anthropic.claude-…``, ``us.anthropic.claude-…``) ``POST /model/{modelId}/invoke`` and
``…/invoke-with-response-stream`` (the id percent-encoded, ``:`` as ``%3A``). An id that is no
Bedrock model id (``provider.name``, an inference profile ``us.provider.name``, or an ARN) is a
``ValidationException``.

Auth is either a SigV4 signature (service ``bedrock``), recomputed here from the request and the
secret the ``AwsAccount`` holds for its access key id, or ``Authorization: Bearer <Bedrock API key>``.
The simulator is the ``us-east-1`` endpoint (``SIM_REGION``): a signature scoped to another region is
refused, as AWS refuses it. A temporary key (``SIM_SESSION_ACCESS_KEY_ID``) must come with its session
token in ``x-amz-security-token``. A request that does not check out gets 403 with the exception AWS
names (``InvalidSignatureException``, ``UnrecognizedClientException``, …). The path is re-encoded the
way the AWS SDKs encode it before checking, since the server hands the simulator the decoded path.

Usage: ``inputTokens`` excludes ``cacheReadInputTokens`` and ``cacheWriteInputTokens``; ``outputTokens``
includes reasoning; ``totalTokens`` is the sum of all four. ConverseStream answers
``application/vnd.amazon.eventstream`` frames: ``messageStart``, (reasoning: ``contentBlockDelta`` ×2 and
``contentBlockStop`` on block 0), ``contentBlockDelta`` × N, ``contentBlockStop``, ``messageStop``, then
``metadata {usage, metrics}``; every payload carries the random-length ``p`` padding field.

A request that forces a tool (``toolConfig.toolChoice`` ``any`` or ``tool``) gets a ``toolUse`` block
instead of text and ``stopReason: tool_use`` (``_tools``); streamed, the block opens with
``contentBlockStart {start: {toolUse: {toolUseId, name}}}`` and its input arrives as JSON text in
``contentBlockDelta {delta: {toolUse: {input}}}`` × N.

``/invoke`` takes Anthropic's Messages body with ``anthropic_version`` and without ``model`` or
``stream`` (either is an "extraneous key" ``ValidationException``) and answers Anthropic's message,
built by the Anthropic simulator (``model`` is Claude's own name, ``claude-3-5-haiku-20241022``). The
stream sends each Anthropic event as a ``chunk`` frame ``{"bytes": <base64 of its JSON>, "p"}``; the
``message_stop`` event also carries ``amazon-bedrock-invocationMetrics``. The knobs apply as below.

The stream knobs, in binary: ``midstream_error_after`` is an ``exception`` frame
(``throttlingException``) inside the 200; ``malformed_after`` puts bytes where a frame's prelude
belongs, so its prelude CRC fails; ``disconnect_after`` at or past the last content chunk drops the
connection before ``messageStop`` and ``metadata``. ``error_status`` answers ``{"message"}`` with the
exception in ``x-amzn-ErrorType``.
"""

from __future__ import annotations

import base64
import random
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from types import MappingProxyType
from typing import Any

from tollgate.core import jsonx
from tollgate.providers.eventstream import CONTENT_TYPE, encode_event, event_headers, exception_headers
from tollgate.providers.sigv4 import SignatureRejected, bedrock_path, verify_sigv4
from tollgate.testing._anthropic import build_message, stream_events
from tollgate.testing._errors import ErrorStyle, error_reply
from tollgate.testing._tokens import Tally, answer_pieces, answer_text, count_prompt, count_words, tally
from tollgate.testing._tools import argument_pieces, arguments, forced_bedrock
from tollgate.testing._types import Call, Handler, Headers, Reply, StreamPlan

SIM_REGION = "us-east-1"
SIM_ACCESS_KEY_ID = "AKIASIMULATOR"
SIM_SECRET_ACCESS_KEY = "simulator/Secret+Access/Key0000000000000"  # fixed: tests sign with it
# Temporary (STS) credentials: the key is only good together with its session token.
SIM_SESSION_ACCESS_KEY_ID = "ASIASIMULATOR"
SIM_SESSION_SECRET_ACCESS_KEY = "simulator/Session+Secret/Key000000000000"
SIM_SESSION_TOKEN = "IQoJb3JpZ2luX2VjEsimulator/session+token=="
EVENT_STREAM = CONTENT_TYPE.encode()
_PADDING = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456"
_MODEL_ID = re.compile(r"[a-z][a-z0-9-]*\.[A-Za-z0-9._:-]+|arn:aws[a-z-]*:bedrock:.+")
_OPERATIONS = ("converse", "converse-stream", "count-tokens", "invoke", "invoke-with-response-stream")
# Claude's own ids and its inference profiles (``us.anthropic.claude-…``) take Anthropic bodies on /invoke.
_CLAUDE_ID = re.compile(r"(?:[a-z]{2,6}\.)?anthropic\.claude.*")
_INVALID_TOKEN = "The security token included in the request is invalid."


@dataclass(frozen=True, slots=True)
class AwsAccount:
    """What the simulated endpoint knows: the secret of each access key id, the session token each
    temporary key must come with, and its region (None: whatever region the signer scoped to)."""

    secrets: Mapping[str, str]
    session_tokens: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    region: str | None = SIM_REGION


DEFAULT_ACCOUNT = AwsAccount(
    MappingProxyType(
        {SIM_ACCESS_KEY_ID: SIM_SECRET_ACCESS_KEY, SIM_SESSION_ACCESS_KEY_ID: SIM_SESSION_SECRET_ACCESS_KEY}
    ),
    MappingProxyType({SIM_SESSION_ACCESS_KEY_ID: SIM_SESSION_TOKEN}),
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
    headers: Headers = ((b"x-amzn-requestid", request_id.encode()),)
    return error_reply(
        ErrorStyle.BEDROCK, status, message, retry_after=retry_after, code=error_type, headers=headers
    )


def bedrock_unauthorized(key: str | None) -> Reply:
    """AWS's answer to a request without a signature or key, or with one it does not know (403)."""
    if key is None:
        return bedrock_error_reply(
            403, "Missing Authentication Token", error_type="MissingAuthenticationTokenException"
        )
    return bedrock_error_reply(403, _INVALID_TOKEN, error_type="UnrecognizedClientException")


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


def bedrock_route(account: AwsAccount = DEFAULT_ACCOUNT) -> Callable[[str, str], Handler | None]:
    """The resolver for ``/model/{modelId}/{converse|converse-stream|count-tokens}``."""

    def resolve(method: str, rest: str) -> Handler | None:
        if method != "POST" or not rest.startswith("/model/"):
            return None
        model, _, operation = rest[len("/model/") :].rpartition("/")
        if not model or operation not in _OPERATIONS:
            return None
        if operation == "count-tokens":
            return partial(_count_tokens, model=model, account=account)
        if operation.startswith("invoke"):
            stream = operation == "invoke-with-response-stream"
            return partial(_invoke, model=model, stream=stream, account=account)
        return partial(_converse, model=model, stream=operation == "converse-stream", account=account)

    return resolve


def _request_id(call: Call) -> str:
    """A UUID-shaped ``x-amzn-RequestId``, unique per call."""
    return f"{call.serial & 0xFFFFFFFF:08x}-0000-4000-8000-{call.serial & 0xFFFFFFFFFFFF:012x}"


def _authenticate(call: Call, model: str, operation: str, account: AwsAccount) -> Reply | None:
    request = call.request
    if (request.header("authorization") or "").lower().startswith("bearer "):
        return None  # a Bedrock API key: the simulator's key check already accepted it
    prefix = request.path[: request.path.find("/model/")]
    try:
        key = verify_sigv4(
            request.method,
            prefix + bedrock_path(model, operation),
            request.query_string,
            request.headers,
            request.body,
            secrets=account.secrets,
            region=account.region,
            now=datetime.fromtimestamp(call.created, UTC),
        )
    except SignatureRejected as exc:
        return bedrock_error_reply(403, exc.message, error_type=exc.aws_type, request_id=_request_id(call))
    expected = account.session_tokens.get(key)
    if expected is not None and request.header("x-amz-security-token") != expected:
        return bedrock_error_reply(
            403, _INVALID_TOKEN, error_type="UnrecognizedClientException", request_id=_request_id(call)
        )
    return None


def _unknown_model(call: Call, model: str) -> Reply | None:
    if _MODEL_ID.fullmatch(model):
        return None
    return bedrock_error_reply(400, "The provided model identifier is invalid.", request_id=_request_id(call))


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


def _count_tokens(call: Call, *, model: str, account: AwsAccount) -> Reply:
    """``{"input": {"converse": {messages, system?}}}`` (or ``{"invokeModel": {"body"}}``) ->
    ``{"inputTokens"}``: what Converse would report as input for the same messages."""
    problem = _authenticate(call, model, "count-tokens", account) or _unknown_model(call, model)
    if problem is not None:
        return problem
    source = call.body.get("input")
    converse = source.get("converse") if isinstance(source, dict) else None
    invoke = source.get("invokeModel") if isinstance(source, dict) else None
    if isinstance(converse, dict) and isinstance(converse.get("messages"), list) and converse["messages"]:
        tokens = count_prompt(converse["messages"], converse.get("system"))
    elif isinstance(invoke, dict) and isinstance(invoke.get("body"), str):
        tokens = max(count_words(invoke["body"]), 1)
    else:
        return bedrock_error_reply(
            400, "The input must be either converse or invokeModel.", request_id=_request_id(call)
        )
    headers: Headers = ((b"x-amzn-requestid", _request_id(call).encode()),)
    return Reply(200, jsonx.dumps({"inputTokens": tokens}), headers)


def _converse(call: Call, *, model: str, stream: bool, account: AwsAccount) -> Reply | StreamPlan:
    request_id = _request_id(call)
    operation = "converse-stream" if stream else "converse"
    problem = _authenticate(call, model, operation, account) or _unknown_model(call, model) or _invalid(call)
    if problem is not None:
        return problem
    body = call.body
    max_tokens = (body.get("inferenceConfig") or {}).get("maxTokens")
    counts = tally(call.scenario, count_prompt(body["messages"], body.get("system")), max_tokens)
    tool = forced_bedrock(body)  # see _tools
    stop = "tool_use" if tool is not None else "max_tokens" if counts.truncated else "end_turn"
    metrics = {"latencyMs": max(int(call.scenario.latency * 1000), 1) + 100}
    headers: Headers = ((b"x-amzn-requestid", request_id.encode()),)
    use = None if tool is None else {"toolUseId": call.ident("tooluse_"), "name": tool}
    if stream:
        return _stream(call, counts, stop, metrics, headers, use)
    content: list[dict[str, Any]] = [{"text": answer_text(counts.visible)}]
    if use is not None:
        content = [{"toolUse": {**use, "input": arguments(counts.visible)}}]
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


def _stream(
    call: Call,
    counts: Tally,
    stop: str,
    metrics: dict[str, int],
    headers: Headers,
    use: dict[str, str] | None,
) -> StreamPlan:
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
    deltas: list[dict[str, Any]] = [
        {"text": piece} for piece in answer_pieces(counts.visible, call.scenario.chunks)
    ]
    if use is not None:  # a forced tool call: the block opens with the tool, its input streams as JSON
        head.append(frame("contentBlockStart", {"contentBlockIndex": index, "start": {"toolUse": use}}))
        pieces = argument_pieces(counts.visible, call.scenario.chunks)
        deltas = [{"toolUse": {"input": piece}} for piece in pieces]
    content = [frame("contentBlockDelta", {"contentBlockIndex": index, "delta": delta}) for delta in deltas]
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


def _invoke(call: Call, *, model: str, stream: bool, account: AwsAccount) -> Reply | StreamPlan:
    """``/invoke`` and ``/invoke-with-response-stream`` for Claude: an Anthropic Messages body with
    ``anthropic_version`` and without ``model`` or ``stream``; the answer is Anthropic's message, or
    its stream events as ``chunk`` frames ``{"bytes": <base64 of the event's JSON>}``, the last one
    also carrying ``amazon-bedrock-invocationMetrics``."""
    operation = "invoke-with-response-stream" if stream else "invoke"
    problem = _authenticate(call, model, operation, account) or _unknown_model(call, model)
    if problem is None and not _CLAUDE_ID.fullmatch(model):
        problem = bedrock_error_reply(400, f"The simulator serves /{operation} for Claude models only.")
    if problem is not None:
        return problem
    body = call.request.json
    if not isinstance(body, dict):
        return bedrock_error_reply(400, "Malformed input request: the body is not a JSON object.")
    problem = _invalid_invoke(body)
    if problem is not None:
        return problem
    built = build_message(call, body, _claude_name(model))
    if isinstance(built, Reply):  # Anthropic's 400: Bedrock says it as a ValidationException
        return bedrock_error_reply(400, _anthropic_message(built))
    message, counts = built
    headers: Headers = ((b"x-amzn-requestid", _request_id(call).encode()),)
    if not stream:
        return Reply(200, jsonx.dumps(message), headers, answer=True)
    return _invoke_stream(call, message, counts, headers)


def _invalid_invoke(body: dict[str, Any]) -> Reply | None:
    for key in ("model", "stream"):
        if key in body:
            return bedrock_error_reply(
                400, f"Malformed input request: #: extraneous key [{key}] is not permitted"
            )
    version = body.get("anthropic_version")
    if not isinstance(version, str) or not version:
        return bedrock_error_reply(
            400, "Malformed input request: #: required key [anthropic_version] not found"
        )
    return None


def _claude_name(model: str) -> str:
    """What Claude on Bedrock reports as ``model``: ``us.anthropic.claude-3-5-haiku-20241022-v1:0``
    -> ``claude-3-5-haiku-20241022``."""
    name = model[model.index("anthropic.") + len("anthropic.") :]
    return re.sub(r"-v\d+(?::\d+)?$", "", name)


def _anthropic_message(reply: Reply) -> str:
    try:
        payload = jsonx.loads(reply.body)
    except jsonx.JSONDecodeError:
        return "Malformed input request"
    error = payload.get("error") if isinstance(payload, dict) else None
    message = error.get("message") if isinstance(error, dict) else None
    return f"Malformed input request: {message}" if isinstance(message, str) else "Malformed input request"


def _invoke_stream(call: Call, message: dict[str, Any], counts: Tally, headers: Headers) -> StreamPlan:
    rng = random.Random(call.serial)
    head, content, tail = stream_events(call, message, counts)
    metrics = {
        "inputTokenCount": counts.input_total,
        "outputTokenCount": counts.output_total,
        "invocationLatency": max(int(call.scenario.latency * 1000), 1) + 100,
        "firstByteLatency": 100,
    }
    last = tail[-1]
    tail = [*tail[:-1], (last[0], {**last[1], "amazon-bedrock-invocationMetrics": metrics})]

    def frame(event: tuple[str, dict[str, Any]]) -> bytes:
        data = base64.b64encode(jsonx.dumps(event[1])).decode()
        padded = {"bytes": data, "p": _PADDING[: rng.randint(1, len(_PADDING))]}
        return encode_event(event_headers("chunk"), jsonx.dumps(padded))

    text = call.scenario.error_message or "Too many tokens, please wait before trying again."

    def error(_sent: int) -> bytes:
        return encode_event(exception_headers("throttlingException"), jsonx.dumps({"message": text}))

    return StreamPlan(
        [frame(e) for e in head],
        [frame(e) for e in content],
        [frame(e) for e in tail],
        error,
        headers,
        EVENT_STREAM,
    )


def bedrock_credential(name: str, base_url: str) -> dict[str, Any]:
    """A credential body whose requests the simulated endpoint accepts: the account's permanent key
    (a SigV4 secrets bundle), its region, and the simulator as the base URL."""
    secrets = {"accessKeyId": SIM_ACCESS_KEY_ID, "secretAccessKey": SIM_SECRET_ACCESS_KEY}
    return {"provider": name, "secrets": secrets, "config": {"region": SIM_REGION, "baseUrl": base_url}}
