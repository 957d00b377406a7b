"""Initial schema: workspaces, gateway keys, provider credentials, price overrides, usage records.

Revision ID: 0001
Revises:
Create Date: 2026-01-01

Written by hand to match tollgate.store.schema; tests/store checks that it does. Types are
spelled out here rather than imported from schema.py, so later schema edits cannot rewrite
history (a plain ``DateTime(timezone=True)`` is what ``UtcDateTime`` stores).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON(none_as_null=True).with_variant(postgresql.JSONB(none_as_null=True), "postgresql")


def _ts(name: str, nullable: bool = False) -> sa.Column[Any]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _id() -> sa.Column[Any]:
    return sa.Column("id", sa.String(64), nullable=False)


def _workspace_id(table: str) -> tuple[sa.Column[Any], sa.ForeignKeyConstraint]:
    return (
        sa.Column("workspace_id", sa.String(64), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"], ["workspaces.id"], name=f"fk_{table}_workspace_id_workspaces"
        ),
    )


def upgrade() -> None:
    op.create_table(
        "workspaces",
        _id(),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("settings", _json(), nullable=False),
        _ts("created_at"),
        _ts("updated_at"),
        _ts("deleted_at", nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_workspaces"),
    )
    op.create_table(
        "gateway_keys",
        _id(),
        *_workspace_id("gateway_keys"),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("key_hash", sa.String(128), nullable=False),
        sa.Column("preview", sa.String(16), nullable=False),
        sa.Column("scopes", _json(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        _ts("created_at"),
        _ts("updated_at"),
        _ts("expires_at", nullable=True),
        sa.Column("allowed_providers", _json(), nullable=True),
        sa.Column("allowed_models", _json(), nullable=True),
        sa.Column("metadata", _json(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_gateway_keys"),
        sa.UniqueConstraint("key_hash", name="uq_gateway_keys_key_hash"),
    )
    op.create_index("ix_gateway_keys_workspace", "gateway_keys", ["workspace_id", "created_at"])
    op.create_table(
        "provider_credentials",
        _id(),
        *_workspace_id("provider_credentials"),
        sa.Column("provider", sa.String(64), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("sealed_secret", sa.Text(), nullable=False),
        sa.Column("secret_kind", sa.String(16), nullable=False),
        sa.Column("last4", sa.String(16), nullable=False),
        sa.Column("config", _json(), nullable=False),
        sa.Column("is_default", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        _ts("created_at"),
        _ts("updated_at"),
        sa.PrimaryKeyConstraint("id", name="pk_provider_credentials"),
        sa.UniqueConstraint(
            "workspace_id", "provider", "name", name="uq_provider_credentials_workspace_id_provider_name"
        ),
    )
    op.create_table(
        "price_overrides",
        _id(),
        *_workspace_id("price_overrides"),
        sa.Column("provider", sa.String(64), nullable=False),
        sa.Column("model", sa.Text(), nullable=False),
        sa.Column("input_per_mtok", sa.String(64), nullable=False),
        sa.Column("output_per_mtok", sa.String(64), nullable=False),
        sa.Column("cache_read_per_mtok", sa.String(64), nullable=True),
        sa.Column("cache_write_per_mtok", sa.String(64), nullable=True),
        _ts("created_at"),
        _ts("updated_at"),
        sa.PrimaryKeyConstraint("id", name="pk_price_overrides"),
        sa.UniqueConstraint(
            "workspace_id", "provider", "model", name="uq_price_overrides_workspace_id_provider_model"
        ),
    )
    _create_usage_records()


def _create_usage_records() -> None:
    op.create_table(
        "usage_records",
        _id(),
        sa.Column("workspace_id", sa.String(64), nullable=False),
        sa.Column("key_id", sa.String(64), nullable=True),
        _ts("created_at"),
        sa.Column("provider", sa.String(64), nullable=False),
        sa.Column("model", sa.Text(), nullable=False),
        sa.Column("upstream_model", sa.Text(), nullable=True),
        sa.Column("operation", sa.String(64), nullable=False),
        sa.Column("door", sa.String(64), nullable=False),
        sa.Column("stream", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("http_status", sa.Integer(), nullable=False),
        sa.Column("error_code", sa.String(128), nullable=True),
        sa.Column("input_tokens", sa.BigInteger(), nullable=False),
        sa.Column("cache_read_tokens", sa.BigInteger(), nullable=False),
        sa.Column("cache_write_tokens", sa.BigInteger(), nullable=False),
        sa.Column("output_tokens", sa.BigInteger(), nullable=False),
        sa.Column("reasoning_tokens", sa.BigInteger(), nullable=False),
        sa.Column("total_tokens", sa.BigInteger(), nullable=False),
        sa.Column("estimated", sa.Boolean(), nullable=False),
        sa.Column("cost_nanos", sa.BigInteger(), nullable=True),
        sa.Column("price_source", sa.String(128), nullable=True),
        sa.Column("price_unknown", sa.Boolean(), nullable=False),
        sa.Column("cache_status", sa.String(16), nullable=False),
        sa.Column("idempotent_replay", sa.Boolean(), nullable=False),
        sa.Column("latency_ms", sa.Integer(), nullable=False),
        sa.Column("upstream_latency_ms", sa.Integer(), nullable=True),
        sa.Column("ttfb_ms", sa.Integer(), nullable=True),
        sa.Column("route_name", sa.Text(), nullable=True),
        sa.Column("function_name", sa.Text(), nullable=True),
        sa.Column("feature", sa.Text(), nullable=True),
        sa.Column("customer_id", sa.Text(), nullable=True),
        sa.Column("metadata", _json(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_usage_records"),
    )
    for name, columns in (
        ("ix_usage_records_list", ["workspace_id", "created_at", "id"]),
        ("ix_usage_records_provider", ["workspace_id", "provider", "created_at"]),
        ("ix_usage_records_model", ["workspace_id", "model", "created_at"]),
        ("ix_usage_records_key", ["workspace_id", "key_id", "created_at"]),
        ("ix_usage_records_feature", ["workspace_id", "feature", "created_at"]),
        ("ix_usage_records_status", ["workspace_id", "status", "created_at"]),
    ):
        op.create_index(name, "usage_records", columns)


def downgrade() -> None:
    op.drop_table("usage_records")
    op.drop_table("price_overrides")
    op.drop_table("provider_credentials")
    op.drop_table("gateway_keys")
    op.drop_table("workspaces")
