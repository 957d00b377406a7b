"""``Store``: the repositories over one engine, opened from a URL.

``open_store`` does not migrate: the caller decides when (``tollgate.store.migrations.migrate``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tollgate.store.alerts import AlertRepository
from tollgate.store.budgets import BudgetRepository
from tollgate.store.credentials import CredentialRepository
from tollgate.store.db import create_engine
from tollgate.store.keys import KeyRepository
from tollgate.store.prices import PriceRepository
from tollgate.store.rollup_queries import RollupRepository
from tollgate.store.spend import SpendRepository
from tollgate.store.usage import UsageRepository
from tollgate.store.webhooks import WebhookStore
from tollgate.store.workspaces import WorkspaceRepository


class Store:
    """Every repository, sharing one engine (and so one connection pool)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.workspaces = WorkspaceRepository(engine)
        self.keys = KeyRepository(engine)
        self.credentials = CredentialRepository(engine)
        self.prices = PriceRepository(engine)
        self.usage = UsageRepository(engine)
        self.rollups = RollupRepository(engine)
        self.webhooks = WebhookStore(engine)
        self.budgets = BudgetRepository(engine)
        self.spend = SpendRepository(engine)
        self.alerts = AlertRepository(engine)

    @property
    def dialect(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self.engine.dialect.name

    async def ping(self) -> None:
        """Raise if the database cannot answer a trivial query (for ``/ready``)."""
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def close(self) -> None:
        """Close every pooled connection; the store is unusable afterwards."""
        await self.engine.dispose()


async def open_store(url: str, *, connect_args: Mapping[str, Any] | None = None) -> Store:
    """A ``Store`` over a new engine for ``url`` (SQLite or PostgreSQL, plain or async form)."""
    return Store(create_engine(url, connect_args=connect_args))
