"""Usage reported by apps that call providers themselves (seed 001's ``POST /api/ingest``).

``IngestService.ingest`` turns one event or a batch of up to 1,000 into priced ``UsageRecord``s
and journals them. Invariants:

- *All or nothing.* Every event is validated before anything happens; one bad event refuses the
  request with every problem listed (``InvalidPayload``), and the quota is asked for the whole
  batch before one journal write appends all of it. When ``ingest`` returns, every record
  survives a crash of this process.
- *Cost is ours.* It is computed from the tokens with the same prices as a proxied call
  (``price_usage``); the client's ``cost`` is kept beside it as ``reported_cost_nanos``.
- *A retry counts once.* An event with an ``eventId`` gets a record id derived from
  (workspace, eventId); the usage insert skips ids it already holds, so the first one stored wins.
- *No database on the common path.* Keys and prices are served from memory; the workspace's
  retention is read (and cached for a minute) only for events that carry a ``timestamp``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from tollgate.core.clock import Clock
from tollgate.core.errors import BadRequest, Forbidden
from tollgate.core.ids import IdFactory
from tollgate.pricing.prices import PriceBook
from tollgate.pricing.usage import NormalizedUsage
from tollgate.services.costing import price_usage
from tollgate.services.ingest_fields import (
    FUTURE_SLACK,
    FieldProblem,
    IngestEvent,
    TimeWindow,
    parse_event,
)
from tollgate.services.ingest_quota import IngestQuota, UnlimitedQuota
from tollgate.services.retention import DEFAULT_RETENTION_DAYS, retention_days
from tollgate.services.state import LiveState
from tollgate.store.records import GatewayKey, UsageRecord, Workspace

MAX_EVENTS = 1000
RETENTION_CACHE_SECONDS = 60.0
SCOPE = "ingest"


class InvalidPayload(BadRequest):
    """One or more events are invalid; ``details`` lists each problem with its field (and index)."""

    default_code = "invalid_payload"


class RecordJournal(Protocol):
    def append_many(self, records: Sequence[UsageRecord]) -> None: ...


class WorkspaceLookup(Protocol):
    async def get(self, id: str) -> Workspace | None: ...


@dataclass(frozen=True, slots=True)
class IngestResult:
    ids: tuple[str, ...]  # one per event, in order (a repeated eventId repeats its id)
    single: bool  # the body was one object, not an array


def event_record_id(workspace_id: str, event_id: str) -> str:
    """The record id of a client event: the same (workspace, eventId) always gives the same id."""
    digest = hashlib.blake2b(f"{workspace_id}\x00{event_id}".encode(), digest_size=16).hexdigest()
    return f"ing_{digest}"


def _retention_of(workspace: Workspace | None) -> int:
    if workspace is None:
        return DEFAULT_RETENTION_DAYS
    try:
        return retention_days(workspace.settings)
    except BadRequest:  # stored before settings were checked
        return DEFAULT_RETENTION_DAYS


class IngestService:
    def __init__(
        self,
        state: LiveState,
        prices: PriceBook,
        journal: RecordJournal,
        workspaces: WorkspaceLookup,
        clock: Clock,
        ids: IdFactory,
        quota: IngestQuota | None = None,
    ) -> None:
        self._state = state
        self._prices = prices
        self._journal = journal
        self._workspaces = workspaces
        self._clock = clock
        self._ids = ids
        self._quota: IngestQuota = quota or UnlimitedQuota()
        self._retention: dict[str, tuple[float, int]] = {}  # workspace -> (good until, days)

    async def authenticate(self, raw_key: str | None) -> GatewayKey:
        """The active ingest key for a raw key: 401 (missing, invalid, revoked, inactive) or 403."""
        await self._state.ensure_fresh()  # a revoke or deactivation applies to the very next request
        key = self._state.authenticate(raw_key)
        if SCOPE not in key.scopes:
            raise Forbidden(f"this key does not have the {SCOPE} scope", code="insufficient_scope")
        return key

    async def ingest(self, key: GatewayKey, payload: object) -> IngestResult:
        """Validate, admit, price and journal the events in ``payload`` (an object or an array)."""
        single = isinstance(payload, dict)
        items = _items(payload)
        window = await self._window(key.workspace_id, items)
        events, problems = _parse_all(items, window)
        if problems:
            raise _invalid(problems, single)
        records, ids = self._records(key, events)
        await self._quota.admit(key.workspace_id, len(records))
        self._journal.append_many(records)
        return IngestResult(tuple(ids), single)

    async def _window(self, workspace_id: str, items: Sequence[object]) -> TimeWindow:
        now = self._clock.now()
        latest = now + FUTURE_SLACK
        if not any(isinstance(item, dict) and item.get("timestamp") is not None for item in items):
            return TimeWindow(latest)
        days = await self._retention_days(workspace_id)
        return TimeWindow(latest, now - timedelta(days=days), days)

    async def _retention_days(self, workspace_id: str) -> int:
        cached = self._retention.get(workspace_id)
        tick = self._clock.monotonic()
        if cached is not None and cached[0] > tick:
            return cached[1]
        days = _retention_of(await self._workspaces.get(workspace_id))
        self._retention[workspace_id] = (tick + RETENTION_CACHE_SECONDS, days)
        return days

    def _records(self, key: GatewayKey, events: Sequence[IngestEvent]) -> tuple[list[UsageRecord], list[str]]:
        """One record per distinct event (an eventId seen twice in the batch is kept once)."""
        now = self._clock.now()
        records: list[UsageRecord] = []
        ids: list[str] = []
        seen: set[str] = set()
        for event in events:
            if event.event_id is None:
                record_id = self._ids.new("ing")
            else:
                record_id = event_record_id(key.workspace_id, event.event_id)
                if record_id in seen:
                    ids.append(record_id)
                    continue
                seen.add(record_id)
            records.append(self._record(key, event, record_id, now))
            ids.append(record_id)
        return records, ids

    def _record(self, key: GatewayKey, event: IngestEvent, record_id: str, now: datetime) -> UsageRecord:
        at = event.timestamp or now
        usage = NormalizedUsage(
            input_tokens=event.prompt_tokens - event.cached_tokens - event.cache_write_tokens,
            cache_read_tokens=event.cached_tokens,
            cache_write_tokens=event.cache_write_tokens,
            output_tokens=event.completion_tokens,
            reasoning_tokens=event.reasoning_tokens,
        )
        workspace = key.workspace_id
        cost = price_usage(self._prices, self._state, workspace, event.provider, event.model, usage, at=at)
        success = event.status == "success"
        return UsageRecord(
            id=record_id,
            workspace_id=workspace,
            key_id=key.id,
            created_at=at,
            provider=event.provider,
            model=event.model,
            upstream_model=None,
            operation="ingest",
            door="ingest",
            stream=False,
            status=event.status,
            # The app called the provider itself: tollgate saw no HTTP status; 200 stands for a
            # reported success and 0 for a reported error.
            http_status=200 if success else 0,
            input_tokens=usage.input_tokens,
            cache_read_tokens=usage.cache_read_tokens,
            cache_write_tokens=usage.cache_write_tokens,
            output_tokens=usage.output_tokens,
            reasoning_tokens=usage.reasoning_tokens,
            cost_nanos=cost.nanos,
            reported_cost_nanos=event.reported_cost_nanos,
            price_source=cost.source,
            price_unknown=cost.unknown and usage.total_tokens > 0,
            latency_ms=event.latency_ms,
            route_name=event.route_name,
            function_name=event.function_name,
            feature=event.feature or "unknown",
            customer_id=event.customer_id,
            metadata=event.metadata,
        )


def _items(payload: object) -> list[object]:
    if isinstance(payload, dict):
        return [payload]
    if not isinstance(payload, list):
        raise InvalidPayload(
            "the body must be a JSON object (one event) or an array of objects",
            details={"errors": [{"field": None, "message": "expected an object or an array"}]},
        )
    if not payload:
        raise BadRequest("the array holds no events", code="empty_batch")
    if len(payload) > MAX_EVENTS:
        raise BadRequest(
            f"at most {MAX_EVENTS} events per request (got {len(payload)})",
            code="batch_too_large",
            details={"maxEvents": MAX_EVENTS},
        )
    return payload


def _parse_all(
    items: Sequence[object], window: TimeWindow
) -> tuple[list[IngestEvent], list[tuple[int, FieldProblem]]]:
    events: list[IngestEvent] = []
    problems: list[tuple[int, FieldProblem]] = []
    for index, item in enumerate(items):
        parsed = parse_event(item, window)
        if isinstance(parsed, list):
            problems.extend((index, problem) for problem in parsed)
        else:
            events.append(parsed)
    return events, problems


def _invalid(problems: Sequence[tuple[int, FieldProblem]], single: bool) -> InvalidPayload:
    if single:
        first = problems[0][1]
        listed = [{"field": p.field, "message": p.message} for _, p in problems]
        return InvalidPayload(first.message, details={"field": first.field, "errors": listed})
    errors = [{"index": i, "field": p.field, "message": p.message} for i, p in problems]
    bad = len({i for i, _ in problems})
    return InvalidPayload(
        f"{bad} of the events {'is' if bad == 1 else 'are'} invalid; nothing was recorded",
        details={"errors": errors},
    )
