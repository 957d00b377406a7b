"""Typed access to the application's services from a request."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from starlette.requests import Request

from tollgate.core.clock import Clock
from tollgate.core.ids import IdFactory
from tollgate.core.settings import Settings
from tollgate.gateway.metrics import GatewayMetrics
from tollgate.gateway.pipeline import Gateway
from tollgate.gateway.upstream import Transport
from tollgate.pricing.prices import PriceBook
from tollgate.services.analytics.overview import Overviews
from tollgate.services.analytics.usage import UsageAnalytics
from tollgate.services.budgets.service import BudgetService
from tollgate.services.credentials import CredentialService
from tollgate.services.ingest import IngestService
from tollgate.services.keys import KeyService
from tollgate.services.prices import PriceService
from tollgate.services.state import LiveState
from tollgate.services.webhooks.runtime import Webhooks
from tollgate.services.workspaces import WorkspaceService
from tollgate.store.journal import Journal
from tollgate.store.repos import Store


@dataclass(slots=True)
class AppContext:
    settings: Settings
    clock: Clock
    ids: IdFactory
    store: Store
    state: LiveState
    journal: Journal
    metrics: GatewayMetrics
    prices: PriceBook
    gateway: Gateway
    workspaces: WorkspaceService
    keys: KeyService
    credentials: CredentialService
    price_overrides: PriceService
    transport: Transport
    ingest: IngestService
    usage_analytics: UsageAnalytics
    overviews: Overviews
    webhooks: Webhooks
    budgets: BudgetService
    redis_ping: Callable[[], Awaitable[object]] | None = None
    started_monotonic: float = 0.0


def context_of(request: Request) -> AppContext:
    ctx: AppContext = request.app.state.ctx
    return ctx


def gateway_of(request: Request) -> Gateway:
    return context_of(request).gateway


def settings_of(request: Request) -> Settings:
    return context_of(request).settings
