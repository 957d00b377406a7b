"""The background pass that raises and clears alerts.

Every ``interval`` it looks at each workspace with usage in the last day:

- **anomaly**: the workspace's spend, each key's and each feature's, by ``anomaly.spikes``. One
  open alert per scope, whichever windows spike; a key or feature is not alerted on while its
  workspace is (the workspace alert names its top keys and features). A new alert is stored and
  sent as ``anomaly.detected``; it is resolved once no window of its scope spikes.
- **limits_unavailable**: calls the gateway admitted unchecked because Redis could not count
  them (fail-open) since the last pass; resolved after a pass with none.

The database's unique open-alert key makes a racing second detector (another instance) a no-op.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Collection, Mapping
from typing import Any, Final

from tollgate.core.clock import Clock
from tollgate.core.ids import IdFactory
from tollgate.core.money import format_usd
from tollgate.services.alerts.anomaly import Policy, Spike, spikes
from tollgate.services.events import Events
from tollgate.store.records import Alert, AlertKind
from tollgate.store.repos import Store
from tollgate.store.rollup_plan import HOURS_PER_DAY
from tollgate.store.rollups import hour_at

log = logging.getLogger("tollgate.alerts")

SCOPES: Final = ("workspace", "key", "feature")
_TOP: Final = 5


def _top(series: Mapping[str, Mapping[int, int]], now_hour: int) -> list[dict[str, str]]:
    recent = {value: costs.get(now_hour, 0) for value, costs in series.items() if value}
    ranked = sorted(recent.items(), key=lambda item: -item[1])[:_TOP]
    return [{"id": value, "spendUsd": format_usd(cost)} for value, cost in ranked if cost]


def _spike_json(spike: Spike) -> dict[str, Any]:
    return {
        "window": spike.window,
        "recentUsd": format_usd(spike.recent_nanos),
        "baselineUsd": format_usd(spike.baseline_nanos),
        "thresholdUsd": format_usd(spike.threshold_nanos),
    }


class AlertDetector:
    def __init__(
        self,
        store: Store,
        clock: Clock,
        ids: IdFactory,
        policy: Policy,
        events: Events | None,
        unchecked: Callable[[], Collection[str]],
    ) -> None:
        self._store = store
        self._clock = clock
        self._ids = ids
        self._policy = policy
        self._events = events
        self._unchecked = unchecked  # workspaces admitted unchecked since the last call
        self._flagged: set[str] = set()  # workspaces this detector holds a limits alert open for

    async def scan(self) -> int:
        """One pass; the number of alerts it opened."""
        opened = await self._limits_unavailable(set(self._unchecked()))
        now_hour = hour_at(self._clock.now())
        first = now_hour - HOURS_PER_DAY * (self._policy.days + 1) + 1
        for workspace_id in await self._store.spend.active_workspaces(now_hour - HOURS_PER_DAY + 1):
            opened += await self._workspace(workspace_id, first, now_hour)
        return opened

    async def _workspace(self, workspace_id: str, first: int, now_hour: int) -> int:
        found: dict[tuple[str, str], list[Spike]] = {}
        series_by_scope = {}
        for scope in SCOPES:
            series = await self._store.spend.hourly(workspace_id, scope, first, now_hour)
            series_by_scope[scope] = series
            for value, costs in series.items():
                if scope != "workspace" and not value:
                    continue  # calls without a key or feature are judged with their workspace
                if found_spikes := spikes(costs, now_hour, self._policy):
                    found[(scope, value)] = found_spikes
        if ("workspace", "") in found:
            found = {("workspace", ""): found[("workspace", "")]}
        open_keys = await self._store.alerts.open_keys(workspace_id, "anomaly")
        opened = 0
        for (scope, value), scope_spikes in found.items():
            data: dict[str, Any] = {"spikes": [_spike_json(s) for s in scope_spikes]}
            if scope == "workspace":
                data["topKeys"] = _top(series_by_scope["key"], now_hour)
                data["topFeatures"] = _top(series_by_scope["feature"], now_hour)
            alert = self._alert(workspace_id, "anomaly", scope, value or None, data)
            if alert.open_key in open_keys:
                open_keys.discard(alert.open_key)
                continue
            if await self._store.alerts.open(alert):
                opened += 1
                self._emit(alert, "anomaly.detected")
        for key in open_keys:  # open, but no longer spiking
            await self._store.alerts.resolve(workspace_id, key, self._clock.now())
        return opened

    async def _limits_unavailable(self, workspaces: set[str]) -> int:
        opened = 0
        data = {"message": "calls were admitted without their rate limits, quota or budgets checked"}
        for workspace_id in workspaces - self._flagged:
            opened += await self._store.alerts.open(
                self._alert(workspace_id, "limits_unavailable", "workspace", None, data)
            )
        for workspace_id in self._flagged - workspaces:  # a whole pass without unchecked calls
            await self._store.alerts.resolve(workspace_id, "limits_unavailable:workspace:", self._clock.now())
        self._flagged = workspaces
        return opened

    def _alert(
        self, workspace_id: str, kind: AlertKind, scope: str, scope_id: str | None, data: Mapping[str, Any]
    ) -> Alert:
        now = self._clock.now()
        return Alert(
            id=self._ids.new("alert"),
            workspace_id=workspace_id,
            kind=kind,
            scope_type=scope,
            scope_id=scope_id,
            status="open",
            opened_at=now,
            updated_at=now,
            data=data,
        )

    def _emit(self, alert: Alert, event: str) -> None:
        if self._events is not None:
            self._events.emit(
                alert.workspace_id,
                event,
                {
                    "alertId": alert.id,
                    "kind": alert.kind,
                    "scope": {"type": alert.scope_type, "id": alert.scope_id},
                    **alert.data,
                },
            )

    async def run(self, interval: float, stop: asyncio.Event) -> None:
        """Scan every ``interval`` seconds until ``stop`` is set."""
        while not stop.is_set():
            try:
                await self.scan()
            except Exception:
                log.exception("alert scan failed; it will run again")
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(interval):
                    await stop.wait()
