"""Row factories for the store contract suite."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

from tollgate.store.records import (
    GatewayKey,
    PriceOverride,
    ProviderCredential,
    UsageRecord,
    Workspace,
)

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


class Make:
    """Builds valid rows with unique ids; keyword arguments override any field."""

    def __init__(self) -> None:
        self._counter = itertools.count(1)

    def _n(self) -> int:
        return next(self._counter)

    def workspace(self, **over: Any) -> Workspace:
        n = self._n()
        values: dict[str, Any] = {
            "id": f"ws_{n:04d}",
            "name": f"Workspace {n}",
            "created_at": T0 + timedelta(seconds=n),
            "updated_at": T0 + timedelta(seconds=n),
            "settings": {"bodyLogging": False, "retentionDays": 30},
        }
        return Workspace(**(values | over))

    def key(self, workspace_id: str, **over: Any) -> GatewayKey:
        n = self._n()
        values: dict[str, Any] = {
            "id": f"key_{n:04d}",
            "workspace_id": workspace_id,
            "name": f"app {n}",
            "key_hash": f"{n:064x}",
            "preview": f"{n:04d}"[-4:],
            "scopes": ("proxy", "ingest", "read"),
            "status": "active",
            "created_at": T0 + timedelta(seconds=n),
            "updated_at": T0 + timedelta(seconds=n),
        }
        return GatewayKey(**(values | over))

    def credential(self, workspace_id: str, **over: Any) -> ProviderCredential:
        n = self._n()
        values: dict[str, Any] = {
            "id": f"pc_{n:04d}",
            "workspace_id": workspace_id,
            "provider": "openai",
            "name": f"cred {n}",
            "sealed_secret": f"v1:mk1:sealed-{n}",
            "secret_kind": "apiKey",
            "last4": "abcd",
            "config": {},
            "is_default": False,
            "status": "active",
            "created_at": T0 + timedelta(seconds=n),
            "updated_at": T0 + timedelta(seconds=n),
        }
        return ProviderCredential(**(values | over))

    def price(self, workspace_id: str, **over: Any) -> PriceOverride:
        n = self._n()
        values: dict[str, Any] = {
            "id": f"po_{n:04d}",
            "workspace_id": workspace_id,
            "provider": "openai",
            "model": f"model-{n}",
            "input_per_mtok": "2.50",
            "output_per_mtok": "10",
            "cache_read_per_mtok": "1.25",
            "cache_write_per_mtok": None,
            "created_at": T0 + timedelta(seconds=n),
            "updated_at": T0 + timedelta(seconds=n),
        }
        return PriceOverride(**(values | over))

    def usage(self, workspace_id: str, **over: Any) -> UsageRecord:
        n = self._n()
        values: dict[str, Any] = {
            "id": f"req_{n:06d}",
            "workspace_id": workspace_id,
            "key_id": "key_x",
            "created_at": T0 + timedelta(seconds=n),
            "provider": "openai",
            "model": "gpt-4o-mini",
            "upstream_model": "gpt-4o-mini-2024-07-18",
            "operation": "chat",
            "door": "openai",
            "stream": False,
            "status": "success",
            "http_status": 200,
            "input_tokens": 100,
            "output_tokens": 20,
            "cost_nanos": 27_000,
            "price_source": "genai-prices",
        }
        return UsageRecord(**(values | over))
