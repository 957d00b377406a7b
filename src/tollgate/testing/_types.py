"""The shapes every simulator module shares: ASGI aliases, a received request, a call, a reply."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any

from tollgate.testing._scenario import Scenario
from tollgate.testing._sse import EVENT_STREAM

Message = MutableMapping[str, Any]
Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Sleep = Callable[[float], Awaitable[None]]
Headers = tuple[tuple[bytes, bytes], ...]

JSON_TYPE = b"application/json"


@dataclass(frozen=True, slots=True)
class ReceivedRequest:
    """One request as the simulator received it, recorded for tests to assert on."""

    method: str
    path: str
    query_string: str
    headers: dict[str, str]  # names lower-cased; repeated headers joined with ", "
    body: bytes
    json: Any  # the parsed body, or None when it is empty or not JSON
    provider: str | None  # None when the path matched no provider

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


@dataclass(frozen=True, slots=True)
class Call:
    """A routed, authenticated request together with the scenario it will be answered with."""

    request: ReceivedRequest
    scenario: Scenario
    serial: int  # unique within the simulator: ids are built from it
    created: int  # unix seconds, from the simulator's clock

    @property
    def body(self) -> dict[str, Any]:
        """The JSON body when it is an object, else an empty one (handlers validate what they need)."""
        data = self.request.json
        return data if isinstance(data, dict) else {}

    def reported_model(self, requested: object) -> str:
        if self.scenario.upstream_model is not None:
            return self.scenario.upstream_model
        return requested if isinstance(requested, str) else ""

    def ident(self, prefix: str) -> str:
        return f"{prefix}{self.serial:024x}"


@dataclass(frozen=True, slots=True)
class Reply:
    """A whole (non-streamed) response.

    ``answer`` marks a generated model answer: only those take the ``malformed_after`` and
    ``disconnect_after`` knobs (a cut-off body, a dropped connection).
    """

    status: int
    body: bytes
    headers: Headers = ()
    content_type: bytes = JSON_TYPE
    answer: bool = False


@dataclass(frozen=True, slots=True)
class StreamPlan:
    """A streamed answer, laid out so the stream knobs can cut into it.

    ``content`` has one frame per content chunk (what the knobs count); ``head`` goes before them and
    ``tail`` (finish, usage, ``[DONE]``) after. ``error_frame(k)`` is the provider's in-stream error
    event sent after ``k`` content chunks.
    """

    head: list[bytes]
    content: list[bytes]
    tail: list[bytes]
    error_frame: Callable[[int], bytes]
    headers: Headers = ()
    content_type: bytes = EVENT_STREAM


Handler = Callable[[Call], Reply | StreamPlan]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
