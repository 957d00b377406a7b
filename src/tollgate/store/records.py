"""Plain rows the store reads and writes. No behaviour beyond (de)serialisation."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any, Literal

KeyStatus = Literal["active", "inactive", "revoked"]
CredentialStatus = Literal["active", "inactive"]
SCOPES: tuple[str, ...] = ("proxy", "ingest", "read", "admin")
DEFAULT_SCOPES: tuple[str, ...] = ("proxy", "ingest", "read")


@dataclass(frozen=True, slots=True)
class Workspace:
    id: str
    name: str
    created_at: datetime
    updated_at: datetime
    settings: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Limits:
    """Rate limits and a monthly quota; ``None`` means no limit of that kind."""

    requests_per_minute: int | None = None
    requests_per_day: int | None = None
    tokens_per_minute: int | None = None
    monthly_requests: int | None = None

    @property
    def empty(self) -> bool:
        return all(getattr(self, name) is None for name in LIMIT_FIELDS)


LIMIT_FIELDS: tuple[str, ...] = (
    "requests_per_minute",
    "requests_per_day",
    "tokens_per_minute",
    "monthly_requests",
)


@dataclass(frozen=True, slots=True)
class GatewayKey:
    id: str
    workspace_id: str
    name: str
    key_hash: str  # hex SHA-256 of the raw key; the raw key is never stored
    preview: str  # last 4 characters of the raw key
    scopes: tuple[str, ...]
    status: KeyStatus
    created_at: datetime
    updated_at: datetime
    expires_at: datetime | None = None
    allowed_providers: tuple[str, ...] | None = None
    allowed_models: tuple[str, ...] | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)
    limits: Limits | None = None  # the key's own limits, on top of its workspace's


@dataclass(frozen=True, slots=True)
class ProviderCredential:
    id: str
    workspace_id: str
    provider: str
    name: str
    sealed_secret: str  # AES-256-GCM ciphertext naming its master-key id
    secret_kind: Literal["apiKey", "secrets"]
    last4: str
    config: Mapping[str, Any]
    is_default: bool
    status: CredentialStatus
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class PriceOverride:
    """A workspace's own price for a model, in USD per million tokens (decimal strings)."""

    id: str
    workspace_id: str
    provider: str
    model: str
    input_per_mtok: str
    output_per_mtok: str
    cache_read_per_mtok: str | None
    cache_write_per_mtok: str | None
    created_at: datetime
    updated_at: datetime


BudgetScope = Literal["workspace", "key", "feature", "customer"]
BudgetPeriod = Literal["daily", "weekly", "monthly", "total"]
BudgetAction = Literal["block", "alert"]


@dataclass(frozen=True, slots=True)
class Budget:
    """A spending cap over a period, for the calls of a workspace, a key, a feature or an end
    customer. ``thresholds`` are fractions of the limit that raise ``budget.alert``."""

    id: str
    workspace_id: str
    name: str | None
    scope_type: BudgetScope
    scope_id: str | None  # None for the workspace scope
    period: BudgetPeriod
    limit_nanos: int
    thresholds: tuple[float, ...]
    action: BudgetAction
    created_at: datetime
    updated_at: datetime


AlertKind = Literal["anomaly", "limits_unavailable"]


@dataclass(frozen=True, slots=True)
class Alert:
    """Something a workspace's owners should look at, open until it clears (then resolved)."""

    id: str
    workspace_id: str
    kind: AlertKind
    scope_type: str  # workspace | key | feature
    scope_id: str | None
    status: Literal["open", "resolved"]
    opened_at: datetime
    updated_at: datetime
    resolved_at: datetime | None = None
    data: Mapping[str, Any] = field(default_factory=dict)

    @property
    def open_key(self) -> str:
        """What makes an open alert the same alert (one open at a time)."""
        return f"{self.kind}:{self.scope_type}:{self.scope_id or ''}"


@dataclass(frozen=True, slots=True)
class UsageRecord:
    """One row per call through any door. No prompt or completion text, ever."""

    id: str
    workspace_id: str
    key_id: str | None
    created_at: datetime
    provider: str
    model: str  # as requested
    upstream_model: str | None  # as reported by the provider
    operation: str
    door: str
    stream: bool
    status: str  # success | error | client_closed
    http_status: int
    error_code: str | None = None
    input_tokens: int = 0  # uncached input
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    output_tokens: int = 0  # includes reasoning
    reasoning_tokens: int = 0
    estimated: bool = False
    cost_nanos: int | None = None
    reported_cost_nanos: int | None = None  # what an ingesting client said it cost (kept, not billed)
    price_source: str | None = None
    price_unknown: bool = False
    cache_status: str = "bypass"
    idempotent_replay: bool = False
    latency_ms: int = 0
    upstream_latency_ms: int | None = None
    ttfb_ms: int | None = None
    route_name: str | None = None
    function_name: str | None = None
    feature: str | None = None
    customer_id: str | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.cache_read_tokens + self.cache_write_tokens + self.output_tokens

    def to_json_dict(self) -> dict[str, Any]:
        # A shallow field copy: dataclasses.asdict deep-copies and costs ~10x more on the hot path.
        data = {name: getattr(self, name) for name in _USAGE_FIELDS}
        data["created_at"] = self.created_at.isoformat()
        data["metadata"] = dict(self.metadata)
        return data

    @classmethod
    def from_json_dict(cls, data: Mapping[str, Any]) -> UsageRecord:
        values = dict(data)
        values["created_at"] = datetime.fromisoformat(values["created_at"])
        return cls(**values)


_USAGE_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(UsageRecord))
