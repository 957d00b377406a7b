"""The simulator: one ASGI app answering as every provider, with a request log and scenario controls.

A request is handled in this order: record it; find the provider by the first path segment (404
otherwise); check its key (401 in the provider's format); find the route (404); pick the scenario
(``x-sim-scenario`` header over the first matching queued scenario over ``defaults``); wait
``latency``; answer ``error_status`` if set; otherwise build the answer and send it with the
stream/cut/drop knobs applied.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterable, Mapping, Sequence

from tollgate.core import jsonx
from tollgate.core.clock import Clock, SystemClock
from tollgate.testing._errors import ErrorStyle, error_reply
from tollgate.testing._providers import DEFAULT_MODELS, ProviderSpec, api_key, build_providers, unauthorized
from tollgate.testing._scenario import SCENARIO_HEADER, Scenario, ScenarioQueue, parse_scenario_header
from tollgate.testing._send import send_reply, send_stream
from tollgate.testing._types import (
    ASGIApp,
    Call,
    Headers,
    Receive,
    ReceivedRequest,
    Reply,
    Scope,
    Send,
    Sleep,
    StreamPlan,
)
from tollgate.testing._vertex import VertexUpstream


class Simulator:
    """A faithful fake of the providers' HTTP APIs. ``app`` is the ASGI app to serve.

    ``valid_keys=None`` accepts any non-empty key; a set accepts only those (others get 401).
    ``record=False`` keeps ``received`` empty, for long benchmark runs. ``clock`` sets the
    ``created`` timestamps; ``sleep`` is what latency and pacing await (tests may pass a fake).
    ``vertex`` holds Vertex AI's keys and tokens (a fresh one by default; see ``VertexUpstream``).
    """

    def __init__(
        self,
        valid_keys: Iterable[str] | None = None,
        *,
        defaults: Scenario | None = None,
        clock: Clock | None = None,
        sleep: Sleep = asyncio.sleep,
        record: bool = True,
        models: Sequence[str] = DEFAULT_MODELS,
        vertex: VertexUpstream | None = None,
    ) -> None:
        self.defaults = defaults if defaults is not None else Scenario()
        # Vertex AI's state: registered keys, issued tokens (``issued`` counts token exchanges).
        self.vertex = vertex if vertex is not None else VertexUpstream()
        self.valid_keys = frozenset(valid_keys) if valid_keys is not None else None
        self.record = record
        self.received: list[ReceivedRequest] = []
        self._queue = ScenarioQueue()
        self._clock = clock if clock is not None else SystemClock()
        self._sleep = sleep
        self._serial = itertools.count(1)
        self._by_segment = build_providers(models, self.vertex)
        self._by_id: Mapping[str, ProviderSpec] = {spec.id: spec for spec in self._by_segment.values()}

    @property
    def app(self) -> ASGIApp:
        return self

    @property
    def providers(self) -> tuple[str, ...]:
        """The provider ids this simulator serves."""
        return tuple(self._by_id)

    def base_url(self, provider: str, root: str) -> str:
        """The base URL a client of ``provider`` should use when the simulator is served at ``root``."""
        try:
            spec = self._by_id[provider]
        except KeyError:
            raise ValueError(
                f"the simulator serves no provider {provider!r}; it serves {self.providers}"
            ) from None
        return root.rstrip("/") + spec.base_path

    def enqueue(
        self, scenario: Scenario, *, provider: str | None = None, path_contains: str | None = None
    ) -> None:
        """Answer the next request matching the filters with ``scenario`` (once, first in first out)."""
        if provider is not None and provider not in self._by_id:
            raise ValueError(f"unknown provider {provider!r}; known: {self.providers}")
        self._queue.push(scenario, provider, path_contains)

    @property
    def pending(self) -> int:
        """How many queued scenarios are still waiting for a request."""
        return len(self._queue)

    def reset(self) -> None:
        """Forget queued scenarios and the request log (``defaults`` stay)."""
        self._queue.clear()
        self.received.clear()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self._http(scope, receive, send)
        elif scope["type"] == "lifespan":
            await _lifespan(receive, send)

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope["path"]
        segment, slash, tail = path[1:].partition("/")
        spec = self._by_segment.get(segment)
        request = await _read_request(scope, receive, spec.id if spec else None)
        if self.record:
            self.received.append(request)
        if spec is None:
            await send_reply(send, _no_provider(path), self.defaults)
            return
        key = api_key(spec, request)
        if key is None or (self.valid_keys is not None and key not in self.valid_keys):
            await send_reply(send, unauthorized(spec, key), self.defaults)
            return
        handler = spec.resolve(request.method, slash + tail)
        if handler is None:
            await send_reply(
                send, error_reply(spec.errors, 404, f"Invalid URL ({request.method} {path})"), self.defaults
            )
            return
        serial = next(self._serial)
        try:
            scenario = self._scenario_for(spec.id, request)
        except ValueError as exc:
            await send_reply(
                send, error_reply(spec.errors, 400, f"invalid {SCENARIO_HEADER}: {exc}"), self.defaults
            )
            return
        if scenario.latency:
            await self._sleep(scenario.latency)
        if scenario.error_status is not None:
            reply = error_reply(
                spec.errors,
                scenario.error_status,
                scenario.error_message,
                retry_after=scenario.retry_after,
                headers=_error_headers(spec, serial),
            )
            await send_reply(send, reply, scenario)
            return
        result = handler(Call(request, scenario, serial, int(self._clock.now().timestamp())))
        if isinstance(result, StreamPlan):
            await send_stream(send, receive, result, scenario, self._sleep)
        else:
            await send_reply(send, result, scenario)

    def _scenario_for(self, provider: str, request: ReceivedRequest) -> Scenario:
        header = request.headers.get(SCENARIO_HEADER)
        overrides = parse_scenario_header(header) if header else None
        scenario = self._queue.take(provider, request.path) or self.defaults
        return scenario.with_overrides(overrides) if overrides else scenario


async def _read_request(scope: Scope, receive: Receive, provider: str | None) -> ReceivedRequest:
    message = await receive()
    body: bytes = message.get("body", b"")
    if message.get("more_body"):
        parts = [body]
        while message.get("more_body"):
            message = await receive()
            parts.append(message.get("body", b""))
        body = b"".join(parts)
    headers: dict[str, str] = {}
    for raw_name, raw_value in scope["headers"]:
        name, value = raw_name.decode("latin-1").lower(), raw_value.decode("latin-1")
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    parsed = None
    if body:
        try:
            parsed = jsonx.loads(body)
        except jsonx.JSONDecodeError:
            parsed = None
    return ReceivedRequest(
        method=scope["method"],
        path=scope["path"],
        query_string=scope["query_string"].decode("latin-1"),
        headers=headers,
        body=body,
        json=parsed,
        provider=provider,
    )


def _error_headers(spec: ProviderSpec, serial: int) -> Headers:
    if spec.errors is ErrorStyle.ANTHROPIC:
        return ((b"request-id", f"req_{serial:024x}".encode()),)
    return ()


def _no_provider(path: str) -> Reply:
    message = f"The simulator serves no provider at {path}."
    return Reply(
        404, jsonx.dumps({"error": {"message": message, "type": "invalid_request_error", "code": None}})
    )


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
