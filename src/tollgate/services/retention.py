"""Raw-row retention: usage rows older than a workspace's ``retentionDays`` (default 90) are
deleted in small batches; the hourly rollups are kept, so analytics of any age stay whole.

Every instance may run the pruner: deleting is idempotent, and each batch is its own short
transaction, so it never holds up the usage writer for long. A failed pass is logged and tried
again on the next round.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from datetime import timedelta
from typing import Any, Final

from tollgate.core.clock import Clock
from tollgate.core.errors import BadRequest
from tollgate.store.repos import Store

DEFAULT_RETENTION_DAYS: Final = 90
MAX_RETENTION_DAYS: Final = 3650
log = logging.getLogger("tollgate.retention")


def retention_days(settings: Mapping[str, Any]) -> int:
    """The workspace's raw-row retention in days, or ``BadRequest(invalid_settings)``."""
    value = settings.get("retentionDays", DEFAULT_RETENTION_DAYS)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_RETENTION_DAYS:
        raise BadRequest(
            f"settings.retentionDays must be a whole number of days from 1 to {MAX_RETENTION_DAYS}",
            code="invalid_settings",
        )
    return value


class Pruner:
    def __init__(self, store: Store, clock: Clock, *, batch: int = 1000, pause: float = 0.05) -> None:
        self._store = store
        self._clock = clock
        self._batch = batch
        self._pause = pause  # between batches: lets other writers in

    async def prune_all(self) -> int:
        """One pass over every workspace; rows deleted."""
        deleted = 0
        cursor: str | None = None
        while True:
            workspaces, cursor = await self._store.workspaces.list(200, cursor)
            for workspace in workspaces:
                try:
                    days = retention_days(workspace.settings)
                except BadRequest:
                    days = DEFAULT_RETENTION_DAYS  # stored before settings were checked
                deleted += await self.prune(workspace.id, days)
            if cursor is None:
                return deleted

    async def prune(self, workspace_id: str, days: int) -> int:
        before = self._clock.now() - timedelta(days=days)
        deleted = 0
        while count := await self._store.usage.prune(workspace_id, before, self._batch):
            deleted += count
            await asyncio.sleep(self._pause)
        return deleted

    async def run(self, interval: float, stop: asyncio.Event) -> None:
        """Prune every ``interval`` seconds until ``stop`` is set."""
        while not stop.is_set():
            try:
                deleted = await self.prune_all()
                if deleted:
                    log.info("retention: deleted %d usage rows past their workspace's retention", deleted)
            except Exception:
                log.exception("retention pass failed; it will run again")
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(interval):
                    await stop.wait()
