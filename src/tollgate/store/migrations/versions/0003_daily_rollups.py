"""Daily usage rollups for the small cubes.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03

Creates ``usage_rollups_<cube>_daily`` for the provider+model and tags cubes and fills each from
its hourly table, in SQL. A row with shift ``s`` and day ``d`` is the sum of the hours
``[24 d - s, 24 d - s + 24)``, for each of the shifts 0, 6, 12 and 18. Spelled out here (not
imported) so later code changes cannot rewrite history.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_CUBES = (
    ("model", ("provider", "model")),
    ("tags", ("feature", "route_name", "function_name")),
)
_SHIFTS = (0, 6, 12, 18)
_MEASURES = (
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
    *(f"latency_{i}" for i in range(16)),
)


def upgrade() -> None:
    for cube, dimensions in _CUBES:
        table = f"usage_rollups_{cube}_daily"
        op.create_table(
            table,
            sa.Column("workspace_id", sa.String(64), nullable=False),
            sa.Column("shift", sa.BigInteger(), nullable=False, autoincrement=False),
            sa.Column("day", sa.BigInteger(), nullable=False, autoincrement=False),
            *(sa.Column(name, sa.Text(), nullable=False) for name in dimensions),
            *(sa.Column(name, sa.BigInteger(), nullable=False) for name in _MEASURES),
            sa.PrimaryKeyConstraint("workspace_id", "shift", "day", *dimensions, name=f"pk_{table}"),
            sqlite_with_rowid=False,
        )
        columns = ", ".join(["workspace_id", "shift", "day", *dimensions, *_MEASURES])
        sums = ", ".join(f"SUM({m})" for m in _MEASURES)
        for shift in _SHIFTS:  # hours are never negative here, so / is floor division
            day_and_dims = ", ".join([f"(hour + {shift}) / 24", *dimensions])
            op.execute(
                sa.text(
                    f"INSERT INTO {table} ({columns}) "
                    f"SELECT workspace_id, {shift}, {day_and_dims}, {sums} FROM usage_rollups_{cube} "
                    f"GROUP BY workspace_id, {day_and_dims}"
                )
            )


def downgrade() -> None:
    for cube, _ in reversed(_CUBES):
        op.drop_table(f"usage_rollups_{cube}_daily")
