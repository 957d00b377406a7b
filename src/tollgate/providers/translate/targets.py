"""Where a hub request goes: for each target provider, the native path, query, operation and body;
the native answer read back into the hub; a reader that turns its stream events into hub events.

Paths are in each family's canonical form, relative to the credential's base URL
(``providers/endpoints.py`` lays them out for Azure and Vertex):

    openai family   chat/completions
    anthropic       v1/messages
    gemini          v1beta/models/{m}:generateContent | :streamGenerateContent?alt=sse
    cohere          v2/chat
    aws_bedrock     model/{id, percent-encoded}/converse | converse-stream
    google_vertex   publishers/google/models/{m}:generateContent | :streamGenerateContent?alt=sse
                    publishers/anthropic/models/{claude-*}:rawPredict | :streamRawPredict

Every door speaks only to the hub, so a door reaches every target through this one table.
Pure: no I/O and no clock; an id the provider's answer lacks (Bedrock's) comes from the caller.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import quote

from tollgate.core import jsonx
from tollgate.providers.base import Operation
from tollgate.providers.registry import ProviderSpec
from tollgate.providers.sigv4 import bedrock_path
from tollgate.providers.translate import anthropic, bedrock, cohere, gemini, openai_upstream
from tollgate.providers.translate.hub import (
    HubRequest,
    HubResponse,
    HubStreamEvent,
    StreamError,
    invalid,
    random_call_id,
)
from tollgate.providers.vertex_urls import anthropic_body_for_vertex

# The model names a path may hold as they are; anything else is percent-encoded, so a model
# name can never add a path segment, a query or a fragment.
_PATH_SAFE = "-._~@"
# OpenAI itself (and Azure) take ``max_completion_tokens``; the rest of the family ``max_tokens``.
_COMPLETION_TOKENS_FIELD = frozenset({"openai", "azure_openai"})


@dataclass(frozen=True, slots=True)
class NativeCall:
    """What to send upstream for one hub request."""

    path: str
    query: str
    operation: Operation
    body: dict[str, Any]


class EventReader(Protocol):
    """One upstream stream's events → hub events: the SSE ``event:`` name (or event-stream
    ``:event-type``) and the data text. One instance per stream."""

    def feed(self, event: str | None, data: str) -> list[HubStreamEvent]: ...


class Target(Protocol):
    """A provider as seen from the hub."""

    @property
    def name(self) -> str:
        """The provider id, for messages (``… is not supported by gemini``)."""
        ...

    def native(self, req: HubRequest) -> NativeCall: ...

    def response(self, body: Mapping[str, Any]) -> HubResponse: ...

    def reader(self) -> EventReader: ...


def _segment(model: str) -> str:
    if not model:
        raise invalid("model is required")
    return quote(model, safe=_PATH_SAFE)


def _parse(data: str, target: str) -> Mapping[str, Any] | StreamError:
    try:
        value = jsonx.loads(data)
    except jsonx.JSONDecodeError:
        return StreamError(f"{target} sent a stream event that is not valid JSON")
    if not isinstance(value, dict):
        return StreamError(f"{target} sent a stream event that is not a JSON object")
    return value


@dataclass(slots=True)
class _JsonReader:
    """SSE whose data is one JSON object per event (dispatched on the data, not the event name).
    A ``[DONE]`` sentinel ends nothing by itself: the finish event has already come."""

    target: str
    feed_object: Callable[[Mapping[str, Any]], list[HubStreamEvent]]

    def feed(self, event: str | None, data: str) -> list[HubStreamEvent]:
        if not data or data.startswith("[DONE]"):
            return []
        parsed = _parse(data, self.target)
        return [parsed] if isinstance(parsed, StreamError) else self.feed_object(parsed)


@dataclass(slots=True)
class _NamedReader:
    """A stream whose events are named (Anthropic SSE, Bedrock's event stream)."""

    target: str
    feed_named: Callable[[str, Mapping[str, Any]], list[HubStreamEvent]]

    def feed(self, event: str | None, data: str) -> list[HubStreamEvent]:
        parsed = _parse(data, self.target)
        if isinstance(parsed, StreamError):
            return [parsed]
        return self.feed_named(event or str(parsed.get("type") or ""), parsed)


@dataclass(frozen=True, slots=True)
class OpenAIFamily:
    """Any OpenAI-compatible chat API (``provider`` picks the usage dialect)."""

    name: str

    def native(self, req: HubRequest) -> NativeCall:
        field_name = "max_completion_tokens" if self.name in _COMPLETION_TOKENS_FIELD else "max_tokens"
        body = openai_upstream.request_body(req, target=self.name, max_tokens_field=field_name)
        return NativeCall("chat/completions", "", Operation.CHAT, body)

    def response(self, body: Mapping[str, Any]) -> HubResponse:
        return openai_upstream.response_to_hub(body, provider=self.name)

    def reader(self) -> EventReader:
        return _JsonReader(self.name, openai_upstream.StreamReader(self.name).feed)


@dataclass(frozen=True, slots=True)
class Anthropic:
    """Anthropic Messages, or Claude on Vertex (``rawPredict``: the same body without ``model``,
    ``anthropic_version`` in it)."""

    name: str = "anthropic"
    vertex: bool = False

    def native(self, req: HubRequest) -> NativeCall:
        body = anthropic.request_body(req)
        if not self.vertex:
            return NativeCall("v1/messages", "", Operation.MESSAGES, body)
        path = vertex_claude_path(req.model, stream=req.stream)
        return NativeCall(path, "", Operation.MESSAGES, anthropic_body_for_vertex(body))

    def response(self, body: Mapping[str, Any]) -> HubResponse:
        return anthropic.response_to_hub(body)

    def reader(self) -> EventReader:
        return _NamedReader(self.name, anthropic.StreamReader().feed)


@dataclass(frozen=True, slots=True)
class Gemini:
    """The Gemini API, or Gemini on Vertex (same bodies, the publisher path)."""

    name: str = "gemini"
    vertex: bool = False
    new_id: Callable[[], str] = field(default=random_call_id)

    def native(self, req: HubRequest) -> NativeCall:
        prefix = "publishers/google/models" if self.vertex else "v1beta/models"
        action = "streamGenerateContent" if req.stream else "generateContent"
        path = f"{prefix}/{_segment(req.model)}:{action}"
        return NativeCall(path, "alt=sse" if req.stream else "", Operation.GENERATE, gemini.request_body(req))

    def response(self, body: Mapping[str, Any]) -> HubResponse:
        return gemini.response_to_hub(body, new_id=self.new_id)

    def reader(self) -> EventReader:
        return _JsonReader(self.name, gemini.StreamReader(new_id=self.new_id).feed)


@dataclass(frozen=True, slots=True)
class Cohere:
    """Cohere v2 Chat. Its answers do not name the model: the requested one is reported."""

    model: str
    name: str = "cohere"

    def native(self, req: HubRequest) -> NativeCall:
        return NativeCall("v2/chat", "", Operation.CHAT, cohere.request_body(req))

    def response(self, body: Mapping[str, Any]) -> HubResponse:
        return cohere.response_to_hub(body, model=self.model)

    def reader(self) -> EventReader:
        return _JsonReader(self.name, cohere.StreamReader().feed)


@dataclass(frozen=True, slots=True)
class Bedrock:
    """Bedrock Converse. Its answers carry neither an id nor the model: the caller's are used."""

    model: str
    response_id: str
    name: str = "aws_bedrock"

    def native(self, req: HubRequest) -> NativeCall:
        if not req.model:
            raise invalid("model is required")
        path = bedrock_path(req.model, "converse-stream" if req.stream else "converse").lstrip("/")
        return NativeCall(path, "", Operation.CONVERSE, bedrock.request_body(req))

    def response(self, body: Mapping[str, Any]) -> HubResponse:
        return bedrock.response_to_hub(body, id=self.response_id, model=self.model)

    def reader(self) -> EventReader:
        return _NamedReader(self.name, bedrock.StreamReader().feed)


def target_for(spec: ProviderSpec, model: str, *, response_id: str) -> Target:
    """The target for a provider and its model (Vertex serves Gemini and, for ``claude-*``, Claude)."""
    match spec.family:
        case "openai":
            return OpenAIFamily(spec.id)
        case "anthropic":
            return Anthropic(spec.id)
        case "gemini":
            return Gemini(spec.id)
        case "cohere":
            return Cohere(model, spec.id)
        case "bedrock":
            return Bedrock(model, response_id, spec.id)
        case "vertex":
            if is_claude(model):
                return Anthropic(spec.id, vertex=True)
            return Gemini(spec.id, vertex=True)


def is_claude(model: str) -> bool:
    return model.lower().startswith("claude")


def vertex_claude_path(model: str, *, stream: bool) -> str:
    """Claude on Vertex (its body is Anthropic's: ``vertex_urls.anthropic_body_for_vertex``)."""
    return f"publishers/anthropic/models/{_segment(model)}:{'streamRawPredict' if stream else 'rawPredict'}"
