"""Turns a finished call into a priced ``UsageRecord`` and appends it to the journal.

``record`` is synchronous: it may run in a ``finally`` during cancellation, and the journal
append is a single write. When it returns, the record survives a crash of this process.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from tollgate.core.clock import Clock
from tollgate.gateway.call import GatewayCall
from tollgate.gateway.metrics import GatewayMetrics
from tollgate.gateway.ticket import Ticket
from tollgate.pricing.prices import Cost, PriceBook
from tollgate.pricing.usage import NormalizedUsage
from tollgate.providers.base import MeterResult
from tollgate.services.costing import price_usage
from tollgate.services.state import LiveState
from tollgate.store.records import UsageRecord


class UsageSink(Protocol):
    def append(self, record: UsageRecord) -> None: ...


@dataclass(slots=True)
class Timing:
    upstream_started: float | None = None
    upstream_first_byte: float | None = None
    upstream_done: float | None = None


@dataclass(slots=True)
class Finish:
    status: str  # success | error | client_closed
    http_status: int
    meter: MeterResult | None = None
    error_code: str | None = None
    estimate: NormalizedUsage | None = None  # used when the meter found no usage


def _ms(start: float | None, end: float | None) -> int | None:
    if start is None or end is None:
        return None
    return max(0, round((end - start) * 1000))


class Recorder:
    def __init__(
        self,
        sink: UsageSink,
        prices: PriceBook,
        state: LiveState,
        clock: Clock,
        metrics: GatewayMetrics,
        settle: Callable[[Ticket, UsageRecord], None] | None = None,
    ) -> None:
        self._settle = settle
        self._sink = sink
        self._prices = prices
        self._state = state
        self._clock = clock
        self._metrics = metrics

    def record(self, call: GatewayCall, finish: Finish, timing: Timing) -> UsageRecord:
        meter = finish.meter
        usage = meter.usage if meter else None
        estimated = False
        if usage is None and finish.estimate is not None:
            usage, estimated = finish.estimate, True
        usage = usage or NormalizedUsage()
        cost = self._price(call, meter, usage)
        now = self._clock.monotonic()
        tags = call.tags
        record = UsageRecord(
            id=call.request_id,
            workspace_id=call.workspace_id,
            key_id=call.key.id,
            created_at=self._clock.now(),
            provider=call.spec.id,
            model=call.model,
            upstream_model=meter.upstream_model if meter else None,
            operation=call.operation.value,
            door=call.door,
            stream=call.stream,
            status=finish.status,
            http_status=finish.http_status,
            error_code=finish.error_code,
            input_tokens=usage.input_tokens,
            cache_read_tokens=usage.cache_read_tokens,
            cache_write_tokens=usage.cache_write_tokens,
            output_tokens=usage.output_tokens,
            reasoning_tokens=usage.reasoning_tokens,
            estimated=estimated,
            cost_nanos=cost.nanos,
            price_source=cost.source,
            price_unknown=cost.unknown and usage.total_tokens > 0,
            latency_ms=_ms(call.started, now) or 0,
            upstream_latency_ms=_ms(timing.upstream_started, timing.upstream_done),
            ttfb_ms=_ms(timing.upstream_started, timing.upstream_first_byte),
            route_name=tags.route_name,
            function_name=tags.function_name,
            feature=tags.feature,
            customer_id=tags.customer_id,
            metadata=dict(tags.metadata),
        )
        self._sink.append(record)
        if call.ticket is not None and self._settle is not None:
            self._settle(call.ticket, record)
        self._observe(record, now - call.started)
        return record

    def _price(self, call: GatewayCall, meter: MeterResult | None, usage: NormalizedUsage) -> Cost:
        """Price by the requested model, then by the one upstream reported (``price_usage``)."""
        return price_usage(
            self._prices,
            self._state,
            call.workspace_id,
            call.spec.id,
            call.model,
            usage,
            at=self._clock.now(),
            reported_usd=meter.reported_cost_usd if meter else None,
            upstream_model=meter.upstream_model if meter else None,
            price_context=meter.price_context if meter else None,
        )

    def _observe(self, record: UsageRecord, seconds: float) -> None:
        tokens = (
            ("input", record.input_tokens),
            ("cache_read", record.cache_read_tokens),
            ("cache_write", record.cache_write_tokens),
            ("output", record.output_tokens),
        )
        self._metrics.observe_call(
            record.door, record.provider, record.status, seconds, record.cost_nanos or 0, tokens
        )
