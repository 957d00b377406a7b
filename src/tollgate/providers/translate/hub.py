"""The hub format: one provider-neutral shape every door and upstream translates to and from.

A door (OpenAI Chat, Anthropic Messages) reads its request into a ``HubRequest``; an upstream
module writes that as its native body, reads the native response into a ``HubResponse`` and the
native stream into ``HubStreamEvent``s; the door writes those back in its own format. N formats
need 2N translators, never N² (DESIGN.md).

Invariants:
- ``HubRequest.messages`` alternate freely; only ``user`` and ``assistant`` roles exist. A tool
  result is a ``ToolResultPart`` inside a user message; the system prompt is ``system``.
- ``ToolCallPart.arguments`` is JSON text of an object, exactly as the model produced it.
- ``HubUsage`` is ``NormalizedUsage``: uncached input, cache read/write, output incl. reasoning.
- Every refusal is ``BadRequest`` with code ``unsupported_feature`` naming feature and target.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal

from tollgate.core.errors import BadRequest, UpstreamError
from tollgate.pricing.usage import NormalizedUsage

UNSUPPORTED = "unsupported_feature"


def unsupported(feature: str, target: str) -> BadRequest:
    """The 400 for a feature ``target`` cannot honour: never dropped silently."""
    return BadRequest(f"{feature} is not supported by {target}", code=UNSUPPORTED)


def invalid(message: str) -> BadRequest:
    return BadRequest(message, code="invalid_request")


class FinishReason(StrEnum):
    STOP = "stop"
    LENGTH = "length"
    TOOL_CALLS = "tool_calls"
    CONTENT_FILTER = "content_filter"
    ERROR = "error"


@dataclass(frozen=True, slots=True)
class TextPart:
    text: str


@dataclass(frozen=True, slots=True)
class ImagePart:
    """Either ``url`` (http/https) or base64 ``data`` with its ``media_type``."""

    url: str | None = None
    data: str | None = None
    media_type: str | None = None


@dataclass(frozen=True, slots=True)
class ToolCallPart:
    id: str
    name: str
    arguments: str = "{}"  # JSON text of an object

    def arguments_object(self) -> dict[str, Any]:
        """The arguments as an object; a 400 when they are not a JSON object."""
        try:
            value = json.loads(self.arguments or "{}")
        except ValueError as exc:
            raise invalid(f"tool call {self.id} arguments are not valid JSON") from exc
        if not isinstance(value, dict):
            raise invalid(f"tool call {self.id} arguments must be a JSON object")
        return value


@dataclass(frozen=True, slots=True)
class ToolResultPart:
    call_id: str
    content: tuple[TextPart | ImagePart, ...]
    name: str | None = None  # the called tool's name, when the door can tell (Gemini needs it)
    is_error: bool = False

    @property
    def text(self) -> str:
        return "".join(p.text for p in self.content if isinstance(p, TextPart))


Part = TextPart | ImagePart | ToolCallPart | ToolResultPart


@dataclass(frozen=True, slots=True)
class Message:
    role: Literal["user", "assistant"]
    parts: tuple[Part, ...]


@dataclass(frozen=True, slots=True)
class Tool:
    name: str
    description: str | None
    parameters: Mapping[str, Any]  # a JSON schema of an object


@dataclass(frozen=True, slots=True)
class ToolChoice:
    mode: Literal["auto", "none", "required", "tool"]
    name: str | None = None  # when mode == "tool"


@dataclass(frozen=True, slots=True)
class ResponseFormat:
    kind: Literal["text", "json_object", "json_schema"]
    schema: Mapping[str, Any] | None = None
    name: str | None = None
    strict: bool | None = None


@dataclass(frozen=True, slots=True)
class Sampling:
    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    stop: tuple[str, ...] = ()
    seed: int | None = None
    top_k: int | None = None


@dataclass(frozen=True, slots=True)
class HubRequest:
    model: str
    messages: tuple[Message, ...]
    system: str | None = None
    tools: tuple[Tool, ...] = ()
    tool_choice: ToolChoice | None = None
    parallel_tool_calls: bool | None = None
    sampling: Sampling = field(default_factory=Sampling)
    response_format: ResponseFormat | None = None
    stream: bool = False
    include_usage: bool = False
    user: str | None = None
    # Door fields the hub does not model (e.g. ``logprobs``); every target refuses them by name.
    extras: Mapping[str, Any] = field(default_factory=dict)

    def refuse_extras(self, target: str) -> None:
        if self.extras:
            raise unsupported(min(self.extras), target)


@dataclass(frozen=True, slots=True)
class HubResponse:
    id: str
    model: str
    parts: tuple[TextPart | ToolCallPart, ...]
    finish_reason: FinishReason
    usage: NormalizedUsage | None = None
    native_finish_reason: str | None = None

    @property
    def text(self) -> str:
        return "".join(p.text for p in self.parts if isinstance(p, TextPart))

    @property
    def tool_calls(self) -> tuple[ToolCallPart, ...]:
        return tuple(p for p in self.parts if isinstance(p, ToolCallPart))


# -- stream events ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RoleStart:
    id: str | None = None
    model: str | None = None


@dataclass(frozen=True, slots=True)
class TextDelta:
    text: str


@dataclass(frozen=True, slots=True)
class ToolCallStart:
    index: int  # 0, 1, ... over the tool calls of this response
    id: str
    name: str


@dataclass(frozen=True, slots=True)
class ToolCallDelta:
    index: int
    arguments: str  # a fragment of the JSON text; fragments concatenate


@dataclass(frozen=True, slots=True)
class Finish:
    reason: FinishReason
    native: str | None = None


@dataclass(frozen=True, slots=True)
class UsageUpdate:
    """The usage so far; the last one wins (never summed)."""

    usage: NormalizedUsage


@dataclass(frozen=True, slots=True)
class StreamError:
    message: str
    type: str = "upstream_error"


HubStreamEvent = RoleStart | TextDelta | ToolCallStart | ToolCallDelta | Finish | UsageUpdate | StreamError


def upstream_failed(native: str | None, target: str) -> UpstreamError:
    return UpstreamError(f"{target} stopped generating with an error ({native or 'unknown'})")


def json_text(value: object) -> str:
    """Compact JSON for tool arguments built from a provider's parsed object."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def parse_data_url(url: str) -> ImagePart:
    """``data:<type>;base64,<data>`` → base64 image; anything else is a URL image."""
    if url.startswith("data:"):
        header, sep, data = url[5:].partition(",")
        media_type, _, encoding = header.partition(";")
        if not sep or encoding != "base64" or not media_type:
            raise invalid("image data URLs must be data:<media type>;base64,<data>")
        return ImagePart(data=data, media_type=media_type)
    if not url.startswith(("http://", "https://")):
        raise invalid("image URLs must be http(s) or base64 data URLs")
    return ImagePart(url=url)


def data_url(image: ImagePart) -> str:
    if image.url is not None:
        return image.url
    return f"data:{image.media_type};base64,{image.data}"


def random_call_id() -> str:
    """A fresh tool-call id for providers that return calls without one (Gemini)."""
    return f"call_{secrets.token_hex(12)}"
