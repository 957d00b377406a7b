"""Webhooks as the app runs them: the services, built from settings, and the worker's lifetime.

``start_webhooks`` starts the delivery worker and registers, on the app's exit stack, the
shutdown in the right order: first events still being stored are drained, then the worker stops.
"""

from __future__ import annotations

from contextlib import AsyncExitStack
from dataclasses import dataclass

from tollgate.core.clock import Clock
from tollgate.core.ids import IdFactory
from tollgate.core.settings import Settings, SettingsError
from tollgate.services.state import LiveState
from tollgate.services.webhooks.delivery import LEASE_MARGIN_S, DeliveryWorker, RetrySchedule
from tollgate.services.webhooks.endpoints import WebhookEndpointService
from tollgate.services.webhooks.outbox import Notifier, Outbox
from tollgate.services.webhooks.sender import WebhookSender
from tollgate.services.webhooks.targets import Resolver, system_resolver
from tollgate.store.repos import Store


@dataclass(frozen=True, slots=True)
class Webhooks:
    endpoints: WebhookEndpointService
    outbox: Outbox
    notifier: Notifier  # ``notifier.emit(workspace_id, event, data)`` from the request path
    worker: DeliveryWorker


async def start_webhooks(
    stack: AsyncExitStack,
    settings: Settings,
    store: Store,
    state: LiveState,
    clock: Clock,
    ids: IdFactory,
    *,
    resolve: Resolver = system_resolver,
) -> Webhooks:
    if not settings.webhook_timeout_seconds > 0 or not settings.webhook_retry_base_seconds > 0:
        raise SettingsError("webhook_timeout_seconds and webhook_retry_base_seconds must be more than 0")
    allow_private = settings.allow_private_webhooks
    sender = WebhookSender(
        clock, resolve=resolve, allow_private=allow_private, timeout_s=settings.webhook_timeout_seconds
    )
    worker = DeliveryWorker(
        store,
        sender,
        lambda: state.keyring,
        clock,
        ids,
        schedule=RetrySchedule(base_s=settings.webhook_retry_base_seconds),
        lease_s=settings.webhook_timeout_seconds + LEASE_MARGIN_S,
    )
    outbox = Outbox(store, clock, ids, on_published=worker.wake)
    notifier = Notifier(outbox)
    endpoints = WebhookEndpointService(
        store,
        lambda: state.keyring,
        clock,
        ids,
        resolve=resolve,
        allow_private=allow_private,
        on_queued=worker.wake,
    )
    worker.start()
    stack.push_async_callback(worker.close)
    stack.push_async_callback(notifier.close)  # runs first: the events in flight get stored
    return Webhooks(endpoints, outbox, notifier, worker)
