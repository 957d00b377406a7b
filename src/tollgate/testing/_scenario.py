"""The knobs: what one simulated call looks like, and how a call picks its scenario.

A call's scenario is, in order of precedence:

1. the fields of its ``x-sim-scenario`` header (a JSON object), laid over
2. the first queued scenario whose filters match the call (consumed), or else
3. the simulator's ``defaults``.
"""

from __future__ import annotations

import dataclasses
import threading
from collections import deque
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from tollgate.core import jsonx

SCENARIO_HEADER = "x-sim-scenario"


@dataclass(frozen=True, slots=True)
class Scenario:
    """How the simulated upstream answers one call. Knobs that do not apply to a provider are ignored.

    Token knobs are *normalised* (PROVIDERS.md §0); each provider reports them in its own semantics:

    - the uncached input is the request's deterministic token count (see ``_tokens``) unless
      ``input_tokens`` overrides it; ``cache_read_tokens`` and ``cache_write_tokens`` come on top;
      ``cache_write_1h_tokens`` is the part of ``cache_write_tokens`` written with a 1-hour TTL;
    - ``output_tokens`` is the visible answer, ``"tok1 tok2 …"``, one word per token;
      ``reasoning_tokens`` are hidden reasoning on top of it.

    Stream knobs count *content chunks* ``K`` (the deltas that carry text): the event happens after
    ``K`` of them were sent; ``K >= chunks`` means after all text but before the finish/usage frames.
    """

    latency: float = 0.0  # seconds before the response starts (errors included)
    chunk_delay: float = 0.0  # seconds between stream chunks (and before the closing frames)
    chunks: int = 5  # content chunks in a stream (fewer when there are fewer output words)
    output_tokens: int = 12
    input_tokens: int | None = None  # override the computed uncached input count
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    cache_write_1h_tokens: int = 0
    reasoning_tokens: int = 0
    omit_usage: bool = False  # no usage anywhere in the body or stream
    error_status: int | None = None  # answer with this status and the provider-shaped error body
    retry_after: float | None = None  # with error_status: the Retry-After header, in seconds
    error_message: str | None = None  # replaces the default message of both error knobs
    midstream_error_after: int | None = None  # stream: the provider's error event after K chunks, end
    malformed_after: int | None = None  # stream: a frame whose data is cut-off JSON after K chunks
    disconnect_after: int | None = None  # stream: drop the connection after K chunks
    upstream_model: str | None = None  # the model the reply reports (default: the requested one)
    # The finish reason the answer ends with instead of its own, in the provider's words (Gemini:
    # "MALFORMED_FUNCTION_CALL", a generation that failed). Applies to Gemini and Gemini on Vertex.
    finish_reason: str | None = None
    # Vertex AI: revoke the access token the call presents before checking it, so the call gets the
    # 401 an expired or revoked token gets (a client that refreshes its token recovers).
    revoke_token: bool = False

    def __post_init__(self) -> None:
        for name in _NON_NEGATIVE:
            value = getattr(self, name)
            if value is not None and value < 0:
                raise ValueError(f"Scenario.{name} must not be negative, got {value!r}")
        if self.chunks < 1:
            raise ValueError("Scenario.chunks must be at least 1")
        if self.cache_write_1h_tokens > self.cache_write_tokens:
            raise ValueError(
                "Scenario.cache_write_1h_tokens is part of cache_write_tokens and cannot exceed it"
            )
        if self.error_status is not None and not 400 <= self.error_status <= 599:
            raise ValueError(f"Scenario.error_status must be a 4xx or 5xx status, got {self.error_status}")

    def with_overrides(self, overrides: dict[str, Any]) -> Scenario:
        """This scenario with some fields replaced, type-checked (they may come off the wire)."""
        for name, value in overrides.items():
            kinds = _FIELD_KINDS.get(name)
            if kinds is None:
                raise ValueError(f"unknown scenario field {name!r}")
            if isinstance(value, bool) and bool not in kinds:
                raise ValueError(f"scenario field {name!r} does not take a boolean")
            if not isinstance(value, kinds):
                raise ValueError(f"scenario field {name!r} has the wrong type: {value!r}")
        return dataclasses.replace(self, **overrides)


_NON_NEGATIVE = (
    "latency",
    "chunk_delay",
    "output_tokens",
    "input_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "cache_write_1h_tokens",
    "reasoning_tokens",
    "retry_after",
    "midstream_error_after",
    "malformed_after",
    "disconnect_after",
)

_NUMBER = (int, float)
_OPT_INT = (int, type(None))
_FIELD_KINDS: MappingProxyType[str, tuple[type, ...]] = MappingProxyType(
    {
        "latency": _NUMBER,
        "chunk_delay": _NUMBER,
        "chunks": (int,),
        "output_tokens": (int,),
        "input_tokens": _OPT_INT,
        "cache_read_tokens": (int,),
        "cache_write_tokens": (int,),
        "cache_write_1h_tokens": (int,),
        "reasoning_tokens": (int,),
        "omit_usage": (bool,),
        "error_status": _OPT_INT,
        "retry_after": (int, float, type(None)),
        "error_message": (str, type(None)),
        "midstream_error_after": _OPT_INT,
        "malformed_after": _OPT_INT,
        "disconnect_after": _OPT_INT,
        "upstream_model": (str, type(None)),
        "finish_reason": (str, type(None)),
        "revoke_token": (bool,),
    }
)


def parse_scenario_header(value: str) -> dict[str, Any]:
    """The overrides an ``x-sim-scenario`` header asks for; ``ValueError`` unless it is a JSON object."""
    try:
        parsed = jsonx.loads(value)
    except jsonx.JSONDecodeError as exc:
        raise ValueError(f"{SCENARIO_HEADER} is not valid JSON: {exc}") from exc
    if not isinstance(parsed, dict):
        raise ValueError(f"{SCENARIO_HEADER} must be a JSON object")
    return parsed


@dataclass(frozen=True, slots=True)
class _Queued:
    scenario: Scenario
    provider: str | None
    path_contains: str | None

    def matches(self, provider: str | None, path: str) -> bool:
        if self.provider is not None and self.provider != provider:
            return False
        return self.path_contains is None or self.path_contains in path


class ScenarioQueue:
    """One-shot scenarios, first matching one first. Safe to fill from another thread than the server's."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: deque[_Queued] = deque()

    def __len__(self) -> int:
        return len(self._items)

    def push(self, scenario: Scenario, provider: str | None, path_contains: str | None) -> None:
        with self._lock:
            self._items.append(_Queued(scenario, provider, path_contains))

    def take(self, provider: str | None, path: str) -> Scenario | None:
        """Remove and return the oldest scenario matching this call, if any."""
        if not self._items:  # the common case, without taking the lock
            return None
        with self._lock:
            for index, item in enumerate(self._items):
                if item.matches(provider, path):
                    del self._items[index]
                    return item.scenario
        return None

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
