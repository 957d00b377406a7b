"""Hourly usage rollups, and the cost an ingesting client reported.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-03

Creates ``usage_rollups`` and fills it from the usage rows already stored, in SQL, the way
``tollgate.store.rollups`` counts new ones: each cube keeps its own dimensions (the
``full`` cube every one); '' stands for a missing value; latency goes into a fixed histogram.
Everything is spelled out here (not imported) so later code changes cannot rewrite history.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_DIMENSIONS = (
    "key_id",
    "provider",
    "model",
    "feature",
    "route_name",
    "function_name",
    "customer_id",
    "status",
)
_CUBES = (
    ("model", ("provider", "model")),
    ("tags", ("feature", "route_name", "function_name")),
    ("key", ("key_id", "provider", "model")),
    ("full", _DIMENSIONS),
)
_LATENCY_BOUNDS_MS = (25, 50, 100, 200, 300, 500, 750, 1000, 1500, 2000, 3000, 5000, 10000, 20000, 60000)
_SUMS = (
    "input_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "output_tokens",
    "reasoning_tokens",
    "cost_nanos",
    "reported_cost_nanos",
)
_MEASURES = (
    "requests",
    "errors",
    *_SUMS,
    "cache_hits",
    "price_unknown",
    "estimated",
    "latency_ms_sum",
    *(f"latency_{i}" for i in range(len(_LATENCY_BOUNDS_MS) + 1)),
)


def upgrade() -> None:
    op.add_column("usage_records", sa.Column("reported_cost_nanos", sa.BigInteger(), nullable=True))
    op.create_table(
        "usage_rollups",
        sa.Column("workspace_id", sa.String(64), nullable=False),
        sa.Column("cube", sa.String(16), nullable=False),
        sa.Column("hour", sa.BigInteger(), nullable=False),
        *(sa.Column(name, sa.Text(), nullable=False) for name in _DIMENSIONS),
        *(sa.Column(name, sa.BigInteger(), nullable=False) for name in _MEASURES),
        sa.UniqueConstraint("workspace_id", "cube", "hour", *_DIMENSIONS, name="uq_usage_rollups_key"),
    )
    for cube, dimensions in _CUBES:
        op.execute(_backfill(cube, dimensions))


def _hour(dialect: str) -> str:
    if dialect == "sqlite":  # created_at is UTC text 'YYYY-MM-DD HH:MM:SS[.ffffff]'
        return "CAST(strftime('%s', created_at) AS INTEGER) / 3600"
    return "CAST(floor(extract(epoch FROM created_at) / 3600) AS BIGINT)"


def _latency_bucket(index: int) -> str:
    low = _LATENCY_BOUNDS_MS[index - 1] if index > 0 else None
    high = _LATENCY_BOUNDS_MS[index] if index < len(_LATENCY_BOUNDS_MS) else None
    conditions = [c for c in (low and f"latency_ms > {low}", high and f"latency_ms <= {high}") if c]
    return f"SUM(CASE WHEN {' AND '.join(conditions)} THEN 1 ELSE 0 END)"


def _backfill(cube: str, dimensions: Sequence[str]) -> Any:
    dialect = op.get_bind().dialect.name
    hour = _hour(dialect)
    kept = [f"substr(COALESCE({d}, ''), 1, 200)" if d in dimensions else "''" for d in _DIMENSIONS]
    measures = [
        "COUNT(*)",
        "SUM(CASE WHEN status = 'error' THEN 1 ELSE 0 END)",
        *(f"SUM(COALESCE({name}, 0))" for name in _SUMS),
        "SUM(CASE WHEN cache_status = 'hit' THEN 1 ELSE 0 END)",
        "SUM(CASE WHEN price_unknown THEN 1 ELSE 0 END)",
        "SUM(CASE WHEN estimated THEN 1 ELSE 0 END)",
        "SUM(latency_ms)",
        *(_latency_bucket(i) for i in range(len(_LATENCY_BOUNDS_MS) + 1)),
    ]
    grouped = [k for k, d in zip(kept, _DIMENSIONS, strict=True) if d in dimensions]
    group = ", ".join(["workspace_id", hour, *grouped])
    columns = ", ".join(["workspace_id", "cube", "hour", *_DIMENSIONS, *_MEASURES])
    select = ", ".join(["workspace_id", f"'{cube}'", hour, *kept, *measures])
    return sa.text(
        f"INSERT INTO usage_rollups ({columns}) SELECT {select} FROM usage_records GROUP BY {group}"
    )


def downgrade() -> None:
    op.drop_table("usage_rollups")
    op.drop_column("usage_records", "reported_cost_nanos")
