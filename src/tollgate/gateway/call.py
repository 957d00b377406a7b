"""The one internal call every door parses its request into, and what the pipeline returns."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from tollgate.core.errors import TollgateError
from tollgate.gateway.ticket import Ticket
from tollgate.providers.base import Operation
from tollgate.providers.registry import ProviderSpec
from tollgate.store.records import GatewayKey, UsageRecord


@dataclass(frozen=True, slots=True)
class Tags:
    route_name: str | None = None
    function_name: str | None = None
    feature: str | None = None
    customer_id: str | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)


class StreamTranslator(Protocol):
    """Rewrites a relayed native stream into the door's own format, event by event.

    The native stream is still metered as it arrives (cost comes from the provider's own usage);
    only what the client receives changes. One instance per stream.
    """

    content_type: str  # what the client receives, e.g. "text/event-stream"

    def event(self, name: str | None, data: str) -> bytes:
        """One native event: its SSE ``event:`` name (or event-stream ``:event-type``) and data text."""
        ...

    def end(self) -> bytes:
        """After the native stream ended normally: closing events (final usage chunk, ``[DONE]``)."""
        ...

    def error(self, error: TollgateError) -> bytes:
        """The stream broke: an in-stream error the door's SDK raises on."""
        ...


@dataclass(slots=True)
class GatewayCall:
    """A provider call, door-independent.

    ``path`` is relative to the credential's base URL (``chat/completions``, ``v1/messages``,
    ``v1beta/models/gemini-2.5-flash:generateContent``). Exactly one of ``body`` (a JSON object
    the pipeline serialises) or ``raw_body`` (bytes forwarded unchanged) is set for a POST.
    """

    request_id: str
    door: str
    key: GatewayKey
    spec: ProviderSpec
    method: str
    path: str
    operation: Operation
    model: str
    started: float  # monotonic seconds when the request reached tollgate
    query: str = ""
    # The client gave ``path`` in the provider's own layout (pass-through): no ``route_path``.
    provider_path: bool = False
    body: dict[str, Any] | None = None
    raw_body: bytes | None = None
    stream: bool = False
    forward_headers: list[tuple[str, str]] = field(default_factory=list)
    tags: Tags = field(default_factory=Tags)
    credential_name: str | None = None
    # The gateway asked upstream for stream usage on the client's behalf: hide that chunk.
    drop_usage_chunk: bool = False
    # Set by a translating door: the stream is rewritten into the door's format as it is relayed.
    translator: StreamTranslator | None = None
    # Whether the client has gone away (checked once a buffered answer is in, to mark the record).
    client_gone: Callable[[], Awaitable[bool]] | None = None
    # What admission reserved (limits, quota, budget holds); the record settles it.
    ticket: Ticket | None = None

    @property
    def workspace_id(self) -> str:
        return self.key.workspace_id


class StreamAborted(Exception):
    """A relayed stream broke in a format with no in-band error event (e.g. a JSON array).

    The response must be cut off, not completed, so the client sees a broken transfer instead
    of a shorter answer that looks whole. The call is already recorded when this is raised.
    """


@dataclass(slots=True)
class StreamState:
    """Shared between the relay and the HTTP response that sends it."""

    client_gone: bool = False
    record: UsageRecord | None = None


@dataclass(slots=True)
class Outcome:
    """The upstream answer, ready for a door to format.

    A buffered answer has ``body``; a streamed one has ``chunks``, which must be iterated to
    the end (the response class keeps draining it after a client disconnect) so the call is
    metered and recorded.
    """

    status: int
    headers: list[tuple[str, str]]
    content_type: str
    body: bytes | None = None
    parsed: Any = None  # the JSON body when it was parsed for metering
    chunks: AsyncIterator[bytes] | None = None
    state: StreamState = field(default_factory=StreamState)
    record: UsageRecord | None = None
