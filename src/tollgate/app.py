"""The application factory: wires settings, storage, state, journal, pipeline and routes.

Everything the app depends on is built in the lifespan and torn down in reverse; tests inject
a clock or an upstream transport. Graceful shutdown: uvicorn lets in-flight requests (streams
included) finish, then the journal is flushed to the database before the process exits.
"""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from redis.asyncio import Redis
from redis.exceptions import RedisError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import Response

from tollgate import __version__
from tollgate.core.clock import Clock, SystemClock
from tollgate.core.errors import BadRequest, TollgateError
from tollgate.core.ids import IdFactory
from tollgate.core.money import parse_usd, usd_to_nanos
from tollgate.core.settings import Settings
from tollgate.gateway.admission import Admission, HoldPolicy
from tollgate.gateway.metrics import GatewayMetrics
from tollgate.gateway.pipeline import Gateway
from tollgate.gateway.recorder import Recorder
from tollgate.gateway.rejections import RejectedCredentials
from tollgate.gateway.upstream import AiohttpTransport, Timeouts, Transport
from tollgate.pricing.prices import PriceBook
from tollgate.routes import anthropic_door, chat, ingest, openai_door, ops, proxy, seed_compat
from tollgate.routes.doorway import TollgateApp
from tollgate.routes.errors import native_error
from tollgate.routes.management import (
    alerts,
    analytics,
    budgets,
    credentials,
    exports,
    keys,
    me,
    prices,
    requests,
    workspaces,
)
from tollgate.routes.management.webhooks import router as webhooks_router
from tollgate.routes.wiring import AppContext
from tollgate.services.alerts.anomaly import Policy
from tollgate.services.alerts.detector import AlertDetector
from tollgate.services.analytics.overview import Overviews
from tollgate.services.analytics.usage import UsageAnalytics
from tollgate.services.budgets.accounts import Books
from tollgate.services.budgets.quota import LedgerQuota
from tollgate.services.budgets.service import BudgetService
from tollgate.services.changes import ChangeFeed, FileChangeFeed, RedisChangeFeed
from tollgate.services.credentials import CredentialService
from tollgate.services.ingest import IngestService
from tollgate.services.ingest_quota import IngestQuota
from tollgate.services.keys import KeyService
from tollgate.services.limits.counters import LimitCounters, MemoryCounters
from tollgate.services.limits.ledger import Ledger, MemoryLedger
from tollgate.services.limits.redis_counters import RedisCounters
from tollgate.services.limits.redis_ledger import RedisLedger
from tollgate.services.prices import PriceService
from tollgate.services.retention import Pruner
from tollgate.services.sealing import load_keyring
from tollgate.services.state import LiveState
from tollgate.services.webhooks.runtime import start_webhooks
from tollgate.services.workspaces import WorkspaceService
from tollgate.store.journal import Journal
from tollgate.store.migrations import migrate
from tollgate.store.repos import open_store
from tollgate.store.usage_sink import database_sink

log = logging.getLogger("tollgate")


async def _tollgate_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, TollgateError)
    return native_error(exc)


_HTTP_CODES = {404: "not_found", 405: "method_not_allowed"}


async def _http_error(request: Request, exc: Exception) -> Response:
    """Starlette's own errors (unknown path, wrong method) in tollgate's error format."""
    assert isinstance(exc, StarletteHTTPException)
    code = _HTTP_CODES.get(exc.status_code, "http_error")
    message = (
        f"no route for {request.method} {request.url.path}"
        if exc.status_code in _HTTP_CODES
        else str(exc.detail)
    )
    response = native_error(TollgateError(message, code=code, status=exc.status_code))
    for name, value in (exc.headers or {}).items():
        response.headers[name] = value
    return response


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    first = errors[0] if errors else {}
    where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
    message = f"{where}: {first.get('msg', 'invalid')}" if where else str(first.get("msg", "invalid request"))
    if tuple(first.get("loc", ())) == ("body",) and "json" not in request.headers.get("content-type", ""):
        message = "the body must be a JSON object sent with Content-Type: application/json"
    details = {"errors": [{"loc": list(e.get("loc", ())), "msg": e.get("msg")} for e in errors]}
    return native_error(BadRequest(message, code="invalid_request", details=details))


async def _check_redis(redis: Redis) -> None:
    """Fail fast, with one line that names the server (never its password)."""
    try:
        await redis.ping()
    except (RedisError, OSError) as exc:
        where = redis.connection_pool.connection_kwargs
        raise RuntimeError(
            f"cannot reach Redis at {where.get('host')}:{where.get('port')}: {type(exc).__name__}: {exc}"
        ) from None


async def _build(
    stack: AsyncExitStack,
    settings: Settings,
    clock: Clock,
    transport: Transport | None,
    ingest_quota: IngestQuota | None = None,
) -> AppContext:
    settings.home.mkdir(parents=True, exist_ok=True)
    keyring = load_keyring(settings.home, settings.master_key)
    store = await open_store(settings.sqlalchemy_url)
    stack.push_async_callback(store.close)
    await migrate(store.engine)
    feed: ChangeFeed
    counters: LimitCounters
    ledger: Ledger
    redis_ping = None
    if settings.redis_url:
        redis = Redis.from_url(settings.redis_url)
        stack.push_async_callback(redis.aclose)
        await _check_redis(redis)
        feed = RedisChangeFeed(redis)
        counters, ledger = RedisCounters(redis), RedisLedger(redis)
        redis_ping = redis.ping
    else:
        feed = FileChangeFeed(settings.home / "generation")
        counters, ledger = MemoryCounters(), MemoryLedger()
    stack.push_async_callback(feed.close)
    ids = IdFactory(clock)
    state = LiveState(
        store, feed, keyring, clock, lambda: load_keyring(settings.home, settings.master_key, create=False)
    )
    await state.reload()
    # Webhooks: the outbox, its delivery worker (started here) and the endpoints' management.
    webhooks = await start_webhooks(stack, settings, store, state, clock, ids)
    journal = Journal(
        settings.journal_dir,
        sink=database_sink(store),
        clock=clock,
        fsync=settings.journal_fsync,
        batch_size=settings.writer_batch_size,
        interval=settings.writer_interval,
    )
    await journal.start()
    stack.push_async_callback(journal.close)
    metrics = GatewayMetrics()
    metrics.watch_journal(lambda: journal.lag().records, lambda: journal.lag().bytes)
    if transport is None:
        aiohttp_transport = AiohttpTransport(
            Timeouts(
                connect=settings.upstream_connect_timeout,
                first_byte=settings.upstream_first_byte_timeout,
                idle=settings.upstream_idle_timeout,
            )
        )
        stack.push_async_callback(aiohttp_transport.close)
        transport = aiohttp_transport
    if settings.retention_interval > 0:
        await _start_background(
            stack, "tollgate-retention", Pruner(store, clock).run, settings.retention_interval
        )
    price_book = PriceBook()
    # Several workers without Redis each keep their own counters: each enforces its share.
    books = Books(ledger, store.spend, clock, split=1 if settings.redis_url else settings.workers)
    admission = Admission(
        counters, books, state, price_book, clock, _hold_policy(settings), metrics, webhooks.notifier
    )
    stack.push_async_callback(admission.aclose)
    recorder = Recorder(journal, price_book, state, clock, metrics, settle=admission.settle)
    if settings.alert_interval_seconds > 0:
        detector = AlertDetector(
            store, clock, ids, _anomaly_policy(settings), webhooks.notifier, admission.drain_unchecked
        )
        await _start_background(stack, "tollgate-alerts", detector.run, settings.alert_interval_seconds)
    rejections = RejectedCredentials(webhooks.notifier, clock.monotonic)
    gateway = Gateway(state, transport, recorder, clock, ids, metrics, admission, rejections)
    return AppContext(
        settings=settings,
        clock=clock,
        ids=ids,
        store=store,
        state=state,
        journal=journal,
        metrics=metrics,
        prices=price_book,
        gateway=gateway,
        workspaces=WorkspaceService(store, state, clock, ids),
        keys=KeyService(store, state, clock, ids),
        credentials=CredentialService(store, state, clock, ids),
        price_overrides=PriceService(store, state, clock, ids),
        transport=transport,
        ingest=IngestService(
            state,
            price_book,
            journal,
            store.workspaces,
            clock,
            ids,
            ingest_quota
            or LedgerQuota(books, state, ids, webhooks.notifier, fail_open=settings.limits_fail_open),
        ),
        budgets=BudgetService(store, state, books, clock, ids),
        usage_analytics=UsageAnalytics(store),
        overviews=Overviews(store, clock),
        webhooks=webhooks,
        redis_ping=redis_ping,
        started_monotonic=clock.monotonic(),
    )


def _hold_policy(settings: Settings) -> HoldPolicy:
    return HoldPolicy(
        output_tokens=settings.hold_output_tokens,
        unpriced_nanos=usd_to_nanos(parse_usd(settings.hold_unpriced_usd)),
        ttl_ms=int(settings.hold_ttl_seconds * 1000),
        fail_open=settings.limits_fail_open,
    )


def _anomaly_policy(settings: Settings) -> Policy:
    return Policy(
        factor=settings.anomaly_factor,
        floor_nanos=usd_to_nanos(parse_usd(settings.anomaly_min_usd)),
        days=settings.anomaly_baseline_days,
    )


async def _start_background(
    stack: AsyncExitStack,
    name: str,
    run: Callable[[float, asyncio.Event], Coroutine[Any, Any, None]],
    interval: float,
) -> None:
    """Run ``run(interval, stop)`` until the app stops."""
    stop = asyncio.Event()
    task = asyncio.create_task(run(interval, stop), name=name)

    async def halt() -> None:
        stop.set()
        await task

    stack.push_async_callback(halt)


def create_app(
    settings: Settings,
    *,
    clock: Clock | None = None,
    transport: Transport | None = None,
    ingest_quota: IngestQuota | None = None,
) -> TollgateApp:
    clock = clock or SystemClock()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            app.state.ctx = await _build(stack, settings, clock, transport, ingest_quota)
            # Everything built so far lives as long as the process: keep it out of the collector's
            # full passes, which otherwise take ~100 ms each once the app is loaded (a p95 spike).
            # Unfrozen on shutdown, so an app built and stopped in a longer-lived process (tests)
            # leaves nothing behind.
            gc.freeze()
            yield
            gc.unfreeze()
            log.info("shutting down: flushing the usage journal")

    app = TollgateApp(
        title="tollgate",
        version=__version__,
        summary="A self-hosted LLM gateway: exact cost, budgets, caching and routing.",
        lifespan=lifespan,
        docs_url="/docs",
        redoc_url=None,
    )
    app.add_exception_handler(TollgateError, _tollgate_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    ids = IdFactory(clock)
    # The doors first: a call is matched against them before the management API's routes, which
    # no door path overlaps, and served on the short path (routes/doorway.py).
    doors = [r for m in (openai_door, anthropic_door, proxy, chat, seed_compat, ingest) for r in m.routes]
    app.open_doors(doors, new_id=lambda: ids.new("req"), access_log=settings.access_log)
    app.router.routes.extend(ops.routes)
    for router in (
        workspaces.router,
        keys.router,
        credentials.router,
        prices.router,
        requests.router,
        analytics.router,
        exports.router,
        me.router,
        webhooks_router,
        budgets.router,
        alerts.router,
    ):
        app.include_router(router)
    return app
