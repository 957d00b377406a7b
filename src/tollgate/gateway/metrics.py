"""Prometheus metrics, one registry per app (no module-level state)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)


@dataclass(frozen=True, slots=True)
class _CallSeries:
    """The labelled series one kind of call counts into (door, provider, status)."""

    requests: Counter
    latency: Histogram
    cost: Counter
    tokens: dict[str, Counter]


class GatewayMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        # Labelled series by (door, provider, status): ``labels()`` takes a lock and checks its
        # arguments on every call, and these are counted into on every call.
        self._series: dict[tuple[str, str, str], _CallSeries] = {}
        self.requests = Counter(
            "tollgate_requests",
            "Proxied calls by door, provider and outcome.",
            ("door", "provider", "status"),
            registry=self.registry,
        )
        self.latency = Histogram(
            "tollgate_request_latency_seconds",
            "Total latency of proxied calls, until the record is written.",
            ("door", "provider"),
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.upstream_ttfb = Histogram(
            "tollgate_upstream_ttfb_seconds",
            "Time from sending upstream to its response headers.",
            ("provider",),
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.upstream_errors = Counter(
            "tollgate_upstream_errors",
            "Upstream failures: unreachable, timeouts, broken streams, HTTP errors.",
            ("provider", "code"),
            registry=self.registry,
        )
        self.cost = Counter(
            "tollgate_cost_nanodollars",
            "Recorded cost in nano-dollars.",
            ("provider",),
            registry=self.registry,
        )
        self.tokens = Counter(
            "tollgate_tokens",
            "Recorded tokens by kind.",
            ("provider", "kind"),
            registry=self.registry,
        )
        self.journal_lag_records = Gauge(
            "tollgate_journal_lag_records",
            "Usage records in the journal not yet in the database.",
            registry=self.registry,
        )
        self.journal_lag_bytes = Gauge(
            "tollgate_journal_lag_bytes",
            "Journal bytes not yet moved to the database.",
            registry=self.registry,
        )

        self.refused = Counter(
            "tollgate_refused",
            "Calls refused before they started: rate_limited, quota_exceeded, budget_exceeded.",
            ("code",),
            registry=self.registry,
        )
        self.limits_unavailable = Counter(
            "tollgate_limits_unavailable",
            "Calls admitted unchecked (fail-open) or refused (fail-closed) because shared limit "
            "state (Redis) was unreachable.",
            ("policy",),
            registry=self.registry,
        )

    def observe_call(
        self,
        door: str,
        provider: str,
        status: str,
        seconds: float,
        cost: int,
        tokens: Iterable[tuple[str, int]],
    ) -> None:
        """Count a recorded call: its outcome, latency, cost (nano-dollars) and tokens by kind."""
        series = self._series.get((door, provider, status))
        if series is None:
            series = _CallSeries(
                self.requests.labels(door, provider, status),
                self.latency.labels(door, provider),
                self.cost.labels(provider),
                {},
            )
            self._series[(door, provider, status)] = series
        series.requests.inc()
        series.latency.observe(seconds)
        if cost:
            series.cost.inc(cost)
        for kind, value in tokens:
            if value:
                counter = series.tokens.get(kind)
                if counter is None:
                    counter = series.tokens[kind] = self.tokens.labels(provider, kind)
                counter.inc(value)

    def watch_journal(self, records: Callable[[], float], size: Callable[[], float]) -> None:
        self.journal_lag_records.set_function(records)
        self.journal_lag_bytes.set_function(size)
