"""Hourly usage rollups, and the cost an ingesting client reported.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-03

Creates one ``usage_rollups_<cube>`` table per cube and fills each from the usage rows already
stored, in SQL, the way ``tollgate.store.rollups`` counts new ones: a cube keeps its own
dimensions (``full`` every one); '' stands for a missing value; latency goes into a fixed
histogram. On SQLite the tables are WITHOUT ROWID (stored in key order).
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
    for cube, dimensions in _CUBES:
        table = f"usage_rollups_{cube}"
        op.create_table(
            table,
            sa.Column("workspace_id", sa.String(64), nullable=False),
            sa.Column("hour", sa.BigInteger(), nullable=False, autoincrement=False),
            *(sa.Column(name, sa.Text(), nullable=False) for name in dimensions),
            *(sa.Column(name, sa.BigInteger(), nullable=False) for name in _MEASURES),
            sa.PrimaryKeyConstraint("workspace_id", "hour", *dimensions, name=f"pk_{table}"),
            sqlite_with_rowid=False,
        )
        op.execute(_backfill(table, dimensions))


def _hour(dialect: str) -> str:
    if dialect == "sqlite":  # created_at is UTC text 'YYYY-MM-DD HH:MM:SS[.ffffff]'
        return "CAST(strftime('%s', created_at) AS INTEGER) / 3600"
    return "CAST(floor(extract(epoch FROM created_at) / 3600) AS BIGINT)"


def _latency_bucket(index: int) -> str:
    low = _LATENCY_BOUNDS_MS[index - 1] if index > 0 else None
    high = _LATENCY_BOUNDS_MS[index] if index < len(_LATENCY_BOUNDS_MS) else None
    conditions = [c for c in (low and f"latency_ms > {low}", high and f"latency_ms <= {high}") if c]
    return f"SUM(CASE WHEN {' AND '.join(conditions)} THEN 1 ELSE 0 END)"


def _backfill(table: str, dimensions: Sequence[str]) -> Any:
    hour = _hour(op.get_bind().dialect.name)
    kept = [f"substr(COALESCE({d}, ''), 1, 200)" for d in dimensions]
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
    group = ", ".join(["workspace_id", hour, *kept])
    columns = ", ".join(["workspace_id", "hour", *dimensions, *_MEASURES])
    select = ", ".join(["workspace_id", hour, *kept, *measures])
    return sa.text(f"INSERT INTO {table} ({columns}) SELECT {select} FROM usage_records GROUP BY {group}")


def downgrade() -> None:
    for cube, _ in reversed(_CUBES):
        op.drop_table(f"usage_rollups_{cube}")
    op.drop_column("usage_records", "reported_cost_nanos")
