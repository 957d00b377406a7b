"""The delivery worker: sends due deliveries, logs every attempt, retries with backoff.

A background loop (one per process) claims due deliveries with a lease (see
``tollgate.store.webhook_outbox``: safe with any number of processes and instances sharing one
database), sends each one's stored payload bytes signed with its endpoint's live secrets, and
records the attempt. A 2xx answer marks the delivery ``delivered``; anything else (an error
status, a redirect, a timeout, a refused connection, an address the guard now refuses) schedules
the next attempt per ``RetrySchedule``, until the last one fails and the delivery is ``failed``.
At-least-once: a worker that dies mid-send loses its lease and the delivery is sent again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Final

from tollgate.core.clock import Clock
from tollgate.core.ids import IdFactory
from tollgate.services.sealing import Keyring, SealingError
from tollgate.services.webhooks.endpoint_secrets import live_secrets
from tollgate.services.webhooks.sender import Attempt, WebhookSender
from tollgate.store.repos import Store
from tollgate.store.webhook_records import ClaimedDelivery, DeliveryStatus, WebhookAttempt

BATCH: Final = 20
MAX_POLL_S: Final = 1.0
MIN_POLL_S: Final = 0.01
LEASE_MARGIN_S: Final = 60.0
log = logging.getLogger("tollgate.webhooks")


@dataclass(frozen=True, slots=True)
class RetrySchedule:
    """Exponential backoff: ``base_s`` after the first failure, doubling, capped at
    ``base_s * 2**cap_doublings``, for at most ``max_attempts`` attempts.

    With the defaults (30 s, 13 attempts, cap 2**10): 30 s, 1 min, 2 min, … 8 h 32 min, then once
    more after 8 h 32 min: the last attempt comes ~25.6 h after the first.
    """

    base_s: float = 30.0
    max_attempts: int = 13
    cap_doublings: int = 10

    def __post_init__(self) -> None:
        if not self.base_s > 0 or self.max_attempts < 1 or self.cap_doublings < 0:
            raise ValueError("a retry schedule needs base_s > 0, max_attempts >= 1 and cap_doublings >= 0")

    def delay_after(self, attempts: int) -> float | None:
        """Seconds to wait after ``attempts`` failed attempts; None when there are no more."""
        if attempts >= self.max_attempts:
            return None
        return self.base_s * (1 << min(max(attempts - 1, 0), self.cap_doublings))

    @property
    def span_s(self) -> float:
        """Seconds from the first attempt to the last."""
        return sum(self.base_s * (1 << min(n - 1, self.cap_doublings)) for n in range(1, self.max_attempts))


class DeliveryWorker:
    def __init__(
        self,
        store: Store,
        sender: WebhookSender,
        keyring: Callable[[], Keyring],
        clock: Clock,
        ids: IdFactory,
        *,
        schedule: RetrySchedule,
        lease_s: float,
        batch: int = BATCH,
    ) -> None:
        self._store = store
        self._sender = sender
        self._keyring = keyring
        self._clock = clock
        self._ids = ids
        self._schedule = schedule
        self._lease = timedelta(seconds=lease_s)
        self._batch = batch
        # Look for due deliveries at least as often as the shortest retry delay.
        self._poll_s = max(MIN_POLL_S, min(MAX_POLL_S, schedule.base_s))
        self._wake = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None

    def wake(self) -> None:
        """Look for due deliveries now (something was just queued)."""
        self._wake.set()

    async def run_once(self) -> int:
        """Claim one batch of due deliveries and attempt each (concurrently); how many."""
        now = self._clock.now()
        claimed = await self._store.webhooks.outbox.claim_due(
            now, lease_id=self._ids.new("wlease"), lease_until=now + self._lease, limit=self._batch
        )
        results = await asyncio.gather(*(self._attempt(item) for item in claimed), return_exceptions=True)
        for item, result in zip(claimed, results, strict=True):
            if isinstance(result, Exception):  # its lease runs out and it is attempted again
                log.error(
                    "webhook delivery %s: its attempt was not recorded: %s", item.id, type(result).__name__
                )
        return len(claimed)

    async def _attempt(self, claimed: ClaimedDelivery) -> None:
        started = self._clock.now()
        try:
            secrets = live_secrets(self._keyring(), claimed.endpoint, started)
        except SealingError:
            result = Attempt(False, None, "the endpoint's signing secret could not be opened", 0)
        else:
            result = await self._sender.send(claimed.endpoint.url, claimed.payload, secrets)
        attempts = claimed.attempts + 1
        delay = None if result.ok else self._schedule.delay_after(attempts)
        status: DeliveryStatus = "delivered" if result.ok else ("pending" if delay is not None else "failed")
        finished = self._clock.now()
        next_at = None if delay is None else finished + timedelta(seconds=delay)
        attempt = WebhookAttempt(
            id=self._ids.new("wha"),
            workspace_id=claimed.workspace_id,
            delivery_id=claimed.id,
            attempted_at=started,
            ok=result.ok,
            http_status=result.status,
            error=result.error,
            duration_ms=result.duration_ms,
        )
        kept = await self._store.webhooks.outbox.complete(
            claimed, attempt, status=status, next_attempt_at=next_at
        )
        if not kept:
            log.info(
                "webhook delivery %s changed hands during its attempt; the attempt is logged", claimed.id
            )
        elif status == "failed":
            log.warning("webhook delivery %s failed after %d attempts", claimed.id, attempts)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="tollgate-webhooks")

    async def _run(self) -> None:
        while not self._stopping:
            self._wake.clear()
            try:
                worked = await self.run_once()
            except Exception as exc:  # the database may be back next round; no details: no secrets
                log.error("webhook delivery round failed: %s; trying again", type(exc).__name__)
                worked = 0
            if worked >= self._batch or self._stopping:
                continue  # more may be due right now
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._poll_s):
                    await self._wake.wait()

    async def close(self, grace_s: float = 5.0) -> None:
        """Stop after the attempts in flight (cancelled after ``grace_s``; their leases run out
        and another round sends them again)."""
        self._stopping = True
        self._wake.set()
        if self._task is None:
            return
        done, _ = await asyncio.wait({self._task}, timeout=grace_s)
        if not done:
            self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
