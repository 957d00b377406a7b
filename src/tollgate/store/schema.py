"""The SQL schema, as SQLAlchemy Core tables (no ORM).

Invariants every repository relies on:

- Every timestamp column is a ``UtcDateTime``: values go in and come out timezone-aware UTC on
  both SQLite (which has no time zone type and stores fixed-width text that sorts by time) and
  PostgreSQL (``timestamptz``). A naive datetime is refused rather than guessed at.
- JSON columns are ``JSONB`` on PostgreSQL and JSON text on SQLite; Python ``None`` is stored as
  SQL ``NULL``. Tuples (scopes, allowed lists) are stored as JSON arrays.
- Every workspace-owned table leads its indexes with ``workspace_id``: every query is scoped by it.

``migrations/versions`` must create exactly this schema; a test compares the migrated database
with ``metadata``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.types import TypeDecorator, TypeEngine

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)

ID_LENGTH = 64


class UtcDateTime(TypeDecorator[datetime]):
    """A timestamp that is always timezone-aware UTC in Python, whatever the backend stores."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("naive datetime given to the store; use timezone-aware UTC")
        value = value.astimezone(UTC)
        # SQLite keeps no offset: store the UTC wall time so text order is time order.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def json_type() -> TypeEngine[Any]:
    """JSON text on SQLite, JSONB on PostgreSQL; ``None`` is SQL NULL."""
    return JSON(none_as_null=True).with_variant(JSONB(none_as_null=True), "postgresql")


def _id(name: str = "id", **kwargs: Any) -> Column[str]:
    return Column(name, String(ID_LENGTH), **kwargs)


def _workspace_fk() -> Column[str]:
    return Column("workspace_id", String(ID_LENGTH), ForeignKey("workspaces.id"), nullable=False)


def _timestamps() -> tuple[Column[datetime], Column[datetime]]:
    return (
        Column("created_at", UtcDateTime(), nullable=False),
        Column("updated_at", UtcDateTime(), nullable=False),
    )


workspaces = Table(
    "workspaces",
    metadata,
    _id(primary_key=True),
    Column("name", Text, nullable=False),
    Column("settings", json_type(), nullable=False),
    *_timestamps(),
    Column("deleted_at", UtcDateTime(), nullable=True),
)

gateway_keys = Table(
    "gateway_keys",
    metadata,
    _id(primary_key=True),
    _workspace_fk(),
    Column("name", Text, nullable=False),
    Column("key_hash", String(128), nullable=False, unique=True),
    Column("preview", String(16), nullable=False),
    Column("scopes", json_type(), nullable=False),
    Column("status", String(16), nullable=False),
    *_timestamps(),
    Column("expires_at", UtcDateTime(), nullable=True),
    Column("allowed_providers", json_type(), nullable=True),
    Column("allowed_models", json_type(), nullable=True),
    Column("metadata", json_type(), nullable=False),
    Column("limits", json_type(), nullable=True),
    Index("ix_gateway_keys_workspace", "workspace_id", "created_at"),
)

provider_credentials = Table(
    "provider_credentials",
    metadata,
    _id(primary_key=True),
    _workspace_fk(),
    Column("provider", String(64), nullable=False),
    Column("name", Text, nullable=False),
    Column("sealed_secret", Text, nullable=False),
    Column("secret_kind", String(16), nullable=False),
    Column("last4", String(16), nullable=False),
    Column("config", json_type(), nullable=False),
    Column("is_default", Boolean, nullable=False),
    Column("status", String(16), nullable=False),
    *_timestamps(),
    UniqueConstraint("workspace_id", "provider", "name"),
)

price_overrides = Table(
    "price_overrides",
    metadata,
    _id(primary_key=True),
    _workspace_fk(),
    Column("provider", String(64), nullable=False),
    Column("model", Text, nullable=False),
    Column("input_per_mtok", String(64), nullable=False),
    Column("output_per_mtok", String(64), nullable=False),
    Column("cache_read_per_mtok", String(64), nullable=True),
    Column("cache_write_per_mtok", String(64), nullable=True),
    *_timestamps(),
    UniqueConstraint("workspace_id", "provider", "model"),
)

budgets = Table(
    "budgets",
    metadata,
    _id(primary_key=True),
    _workspace_fk(),
    Column("name", Text, nullable=True),
    Column("scope_type", String(16), nullable=False),
    Column("scope_id", Text, nullable=True),
    Column("period", String(16), nullable=False),
    Column("limit_nanos", BigInteger, nullable=False),
    Column("thresholds", json_type(), nullable=False),
    Column("action", String(16), nullable=False),
    *_timestamps(),
    Index("ix_budgets_workspace", "workspace_id", "created_at"),
)

# ``open_key`` is set while an alert is open and NULL once resolved: the unique constraint keeps
# one open alert per (workspace, kind, scope) however many detectors race.
alerts = Table(
    "alerts",
    metadata,
    _id(primary_key=True),
    _workspace_fk(),
    Column("kind", String(32), nullable=False),
    Column("scope_type", String(16), nullable=False),
    Column("scope_id", Text, nullable=True),
    Column("status", String(16), nullable=False),
    Column("open_key", Text, nullable=True),
    Column("opened_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    Column("resolved_at", UtcDateTime(), nullable=True),
    Column("data", json_type(), nullable=False),
    UniqueConstraint("workspace_id", "open_key"),
    Index("ix_alerts_workspace", "workspace_id", "opened_at"),
)

# No foreign keys here on purpose: the usage writer replays journal batches, and one row that
# pointed at a missing parent must not block every record behind it. Ownership is still
# enforced by scoping every read by workspace_id.
usage_records = Table(
    "usage_records",
    metadata,
    _id(primary_key=True),
    Column("workspace_id", String(ID_LENGTH), nullable=False),
    Column("key_id", String(ID_LENGTH), nullable=True),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("provider", String(64), nullable=False),
    Column("model", Text, nullable=False),
    Column("upstream_model", Text, nullable=True),
    Column("operation", String(64), nullable=False),
    Column("door", String(64), nullable=False),
    Column("stream", Boolean, nullable=False),
    Column("status", String(32), nullable=False),
    Column("http_status", Integer, nullable=False),
    Column("error_code", String(128), nullable=True),
    Column("input_tokens", BigInteger, nullable=False),
    Column("cache_read_tokens", BigInteger, nullable=False),
    Column("cache_write_tokens", BigInteger, nullable=False),
    Column("output_tokens", BigInteger, nullable=False),
    Column("reasoning_tokens", BigInteger, nullable=False),
    Column("total_tokens", BigInteger, nullable=False),
    Column("estimated", Boolean, nullable=False),
    Column("cost_nanos", BigInteger, nullable=True),
    Column("reported_cost_nanos", BigInteger, nullable=True),
    Column("price_source", String(128), nullable=True),
    Column("price_unknown", Boolean, nullable=False),
    Column("cache_status", String(16), nullable=False),
    Column("idempotent_replay", Boolean, nullable=False),
    Column("latency_ms", Integer, nullable=False),
    Column("upstream_latency_ms", Integer, nullable=True),
    Column("ttfb_ms", Integer, nullable=True),
    Column("route_name", Text, nullable=True),
    Column("function_name", Text, nullable=True),
    Column("feature", Text, nullable=True),
    Column("customer_id", Text, nullable=True),
    Column("metadata", json_type(), nullable=False),
    # The request list: newest first by (created_at, id) within a workspace, optionally filtered.
    Index("ix_usage_records_list", "workspace_id", "created_at", "id"),
    Index("ix_usage_records_provider", "workspace_id", "provider", "created_at"),
    Index("ix_usage_records_model", "workspace_id", "model", "created_at"),
    Index("ix_usage_records_key", "workspace_id", "key_id", "created_at"),
    Index("ix_usage_records_feature", "workspace_id", "feature", "created_at"),
    Index("ix_usage_records_status", "workspace_id", "status", "created_at"),
)

# Hourly aggregates of usage_records, maintained by the usage writer in the same transaction as
# the rows they count (see ``tollgate.store.rollups``). One table per *cube*: a cube keeps some of
# the dimensions, one row per (workspace, hour, its dimension values), so a question that needs
# only provider and model reads a table of a few rows per hour however many calls there were.
# ``hour`` is whole hours since the Unix epoch, UTC. Dimension columns are never NULL ('' stands
# for "none") so that the primary key can be an upsert target on both backends. On SQLite the
# tables are WITHOUT ROWID: rows are stored in key order, so an hour range is one sequential read.
# The small cubes also have a daily table (``usage_rollups_<cube>_daily``), kept the same way: a
# long series reads one row per day where it can.
ROLLUP_DIMENSION_COLUMNS = (
    "key_id",
    "provider",
    "model",
    "feature",
    "route_name",
    "function_name",
    "customer_id",
    "status",
)
# cube name -> its dimension columns, smallest cube first.
ROLLUP_CUBES: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "model": ("provider", "model"),
        "tags": ("feature", "route_name", "function_name"),
        "key": ("key_id", "provider", "model"),
        "full": ROLLUP_DIMENSION_COLUMNS,
    }
)
LATENCY_BUCKETS = 16
ROLLUP_MEASURE_COLUMNS = (
    "requests",
    "errors",
    "input_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "output_tokens",
    "reasoning_tokens",
    "cost_nanos",
    "reported_cost_nanos",
    "cache_hits",
    "price_unknown",
    "estimated",
    "latency_ms_sum",
    *(f"latency_{i}" for i in range(LATENCY_BUCKETS)),
)


# The cubes that also have a daily table, and the hours by which its days are shifted: a row with
# shift ``s`` and day ``d`` sums the hours ``[24 d - s, 24 d - s + 24)``, so that a zone's local days
# are at most three hours from one of the four sets of days (see ``tollgate.store.rollup_plan``).
ROLLUP_DAILY_CUBES = ("model", "tags")
ROLLUP_DAY_SHIFTS = (0, 6, 12, 18)


def _rollup_table(name: str, units: tuple[str, ...], dimensions: tuple[str, ...]) -> Table:
    return Table(
        name,
        metadata,
        Column("workspace_id", String(ID_LENGTH), primary_key=True),
        *(Column(unit, BigInteger, primary_key=True, autoincrement=False) for unit in units),
        *(Column(name, Text, primary_key=True) for name in dimensions),
        *(Column(name, BigInteger, nullable=False) for name in ROLLUP_MEASURE_COLUMNS),
        sqlite_with_rowid=False,
    )


rollup_tables: Mapping[str, Table] = MappingProxyType(
    {cube: _rollup_table(f"usage_rollups_{cube}", ("hour",), dims) for cube, dims in ROLLUP_CUBES.items()}
)
daily_rollup_tables: Mapping[str, Table] = MappingProxyType(
    {
        cube: _rollup_table(f"usage_rollups_{cube}_daily", ("shift", "day"), ROLLUP_CUBES[cube])
        for cube in ROLLUP_DAILY_CUBES
    }
)

# Webhooks (``tollgate.services.webhooks``): endpoints, the outbox of events, one delivery per
# (event, endpoint) and a log of every attempt. An endpoint's ``secrets`` is a JSON list of
# ``{"sealed": <tgs1…>, "expiresAt": <ISO 8601> | null}``, newest first: a rotated-out secret keeps
# signing until it expires. An event's ``payload`` is JSON *text*, not JSONB: it holds the exact
# bytes that are signed and sent, the same on every retry. A delivery is due when it is pending,
# its ``next_attempt_at`` has come and no worker holds its lease (``locked_until``/``lease_id``).
webhook_endpoints = Table(
    "webhook_endpoints",
    metadata,
    _id(primary_key=True),
    _workspace_fk(),
    Column("url", Text, nullable=False),
    Column("description", Text, nullable=True),
    Column("enabled_events", json_type(), nullable=False),
    Column("status", String(16), nullable=False),
    Column("secrets", json_type(), nullable=False),
    Column("secret_preview", String(16), nullable=False),
    *_timestamps(),
    Column("deleted_at", UtcDateTime(), nullable=True),
    Index("ix_webhook_endpoints_workspace", "workspace_id", "created_at"),
)

webhook_events = Table(
    "webhook_events",
    metadata,
    _id(primary_key=True),
    _workspace_fk(),
    Column("event", String(64), nullable=False),
    Column("payload", Text, nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Index("ix_webhook_events_workspace", "workspace_id", "created_at"),
)

webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    _id(primary_key=True),
    _workspace_fk(),
    Column("endpoint_id", String(ID_LENGTH), ForeignKey("webhook_endpoints.id"), nullable=False),
    Column("event_id", String(ID_LENGTH), ForeignKey("webhook_events.id"), nullable=False),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", UtcDateTime(), nullable=True),
    Column("locked_until", UtcDateTime(), nullable=True),
    Column("lease_id", String(ID_LENGTH), nullable=True),
    *_timestamps(),
    Index("ix_webhook_deliveries_endpoint", "workspace_id", "endpoint_id", "created_at", "id"),
    Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
)

webhook_attempts = Table(
    "webhook_attempts",
    metadata,
    _id(primary_key=True),
    _workspace_fk(),
    Column("delivery_id", String(ID_LENGTH), ForeignKey("webhook_deliveries.id"), nullable=False),
    Column("attempted_at", UtcDateTime(), nullable=False),
    Column("ok", Boolean, nullable=False),
    Column("http_status", Integer, nullable=True),
    Column("error", Text, nullable=True),
    Column("duration_ms", Integer, nullable=False),
    Index("ix_webhook_attempts_delivery", "workspace_id", "delivery_id", "attempted_at"),
)
