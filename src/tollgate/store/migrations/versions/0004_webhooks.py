"""Webhooks: endpoints, the outbox of events, deliveries and their attempts.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04

Written by hand to match tollgate.store.schema (tests/store checks that it does); types are
spelled out here, not imported, so later schema edits cannot rewrite history.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON(none_as_null=True).with_variant(postgresql.JSONB(none_as_null=True), "postgresql")


def _ts(name: str, nullable: bool = False) -> sa.Column[Any]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _id() -> sa.Column[Any]:
    return sa.Column("id", sa.String(64), nullable=False)


def _ref(table: str, column: str, parent: str) -> tuple[sa.Column[Any], sa.ForeignKeyConstraint]:
    return (
        sa.Column(column, sa.String(64), nullable=False),
        sa.ForeignKeyConstraint([column], [f"{parent}.id"], name=f"fk_{table}_{column}_{parent}"),
    )


def upgrade() -> None:
    op.create_table(
        "webhook_endpoints",
        _id(),
        *_ref("webhook_endpoints", "workspace_id", "workspaces"),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("enabled_events", _json(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("secrets", _json(), nullable=False),
        sa.Column("secret_preview", sa.String(16), nullable=False),
        _ts("created_at"),
        _ts("updated_at"),
        _ts("deleted_at", nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_webhook_endpoints"),
    )
    op.create_index("ix_webhook_endpoints_workspace", "webhook_endpoints", ["workspace_id", "created_at"])
    op.create_table(
        "webhook_events",
        _id(),
        *_ref("webhook_events", "workspace_id", "workspaces"),
        sa.Column("event", sa.String(64), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        _ts("created_at"),
        sa.PrimaryKeyConstraint("id", name="pk_webhook_events"),
    )
    op.create_index("ix_webhook_events_workspace", "webhook_events", ["workspace_id", "created_at"])
    op.create_table(
        "webhook_deliveries",
        _id(),
        *_ref("webhook_deliveries", "workspace_id", "workspaces"),
        *_ref("webhook_deliveries", "endpoint_id", "webhook_endpoints"),
        *_ref("webhook_deliveries", "event_id", "webhook_events"),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        _ts("next_attempt_at", nullable=True),
        _ts("locked_until", nullable=True),
        sa.Column("lease_id", sa.String(64), nullable=True),
        _ts("created_at"),
        _ts("updated_at"),
        sa.PrimaryKeyConstraint("id", name="pk_webhook_deliveries"),
    )
    op.create_index(
        "ix_webhook_deliveries_endpoint",
        "webhook_deliveries",
        ["workspace_id", "endpoint_id", "created_at", "id"],
    )
    op.create_index("ix_webhook_deliveries_due", "webhook_deliveries", ["status", "next_attempt_at"])
    op.create_table(
        "webhook_attempts",
        _id(),
        *_ref("webhook_attempts", "workspace_id", "workspaces"),
        *_ref("webhook_attempts", "delivery_id", "webhook_deliveries"),
        _ts("attempted_at"),
        sa.Column("ok", sa.Boolean(), nullable=False),
        sa.Column("http_status", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_webhook_attempts"),
    )
    op.create_index(
        "ix_webhook_attempts_delivery", "webhook_attempts", ["workspace_id", "delivery_id", "attempted_at"]
    )


def downgrade() -> None:
    for table in ("webhook_attempts", "webhook_deliveries", "webhook_events", "webhook_endpoints"):
        op.drop_table(table)
