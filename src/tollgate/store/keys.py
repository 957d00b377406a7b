"""Gateway keys, stored only as a SHA-256 hash plus a 4-character preview.

``revoked`` is terminal: a revoked key cannot be updated or rotated again (``key_revoked``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Row, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from tollgate.core.errors import Conflict, TollgateError
from tollgate.store._base import (
    UNSET,
    Repository,
    Unset,
    as_dict,
    as_list,
    as_tuple,
    changes,
    translate_integrity,
)
from tollgate.store.db import write_transaction
from tollgate.store.records import LIMIT_FIELDS, GatewayKey, KeyStatus, Limits
from tollgate.store.schema import gateway_keys as t
from tollgate.store.schema import workspaces

KeyList = list[GatewayKey]

_JSON_LISTS = ("scopes", "allowed_providers", "allowed_models")


def limits_row(limits: Limits | None) -> dict[str, int] | None:
    """A key's limits as stored: the set fields only; no limits at all is NULL."""
    if limits is None or limits.empty:
        return None
    return {name: value for name in LIMIT_FIELDS if (value := getattr(limits, name)) is not None}


def _limits(value: Any) -> Limits | None:
    if not value:
        return None
    return Limits(**{name: int(v) for name, v in value.items() if name in LIMIT_FIELDS})


def _to_key(row: Row[Any]) -> GatewayKey:
    return GatewayKey(
        id=row.id,
        workspace_id=row.workspace_id,
        name=row.name,
        key_hash=row.key_hash,
        preview=row.preview,
        scopes=tuple(row.scopes),
        status=row.status,
        created_at=row.created_at,
        updated_at=row.updated_at,
        expires_at=row.expires_at,
        allowed_providers=as_tuple(row.allowed_providers),
        allowed_models=as_tuple(row.allowed_models),
        metadata=row.metadata,
        limits=_limits(row.limits),
    )


def _values(key: GatewayKey) -> dict[str, Any]:
    return {
        "id": key.id,
        "workspace_id": key.workspace_id,
        "name": key.name,
        "key_hash": key.key_hash,
        "preview": key.preview,
        "scopes": list(key.scopes),
        "status": key.status,
        "created_at": key.created_at,
        "updated_at": key.updated_at,
        "expires_at": key.expires_at,
        "allowed_providers": as_list(key.allowed_providers),
        "allowed_models": as_list(key.allowed_models),
        "metadata": as_dict(key.metadata),
        "limits": limits_row(key.limits),
    }


def _translate(exc: IntegrityError, key: GatewayKey) -> TollgateError:
    conflict = Conflict("a gateway key with this id or hash already exists", code="key_exists")
    return translate_integrity(exc, conflict=conflict, workspace_id=key.workspace_id)


class KeyRepository(Repository):
    async def create(self, key: GatewayKey) -> GatewayKey:
        try:
            async with write_transaction(self._engine) as conn:
                await conn.execute(insert(t).values(_values(key)))
        except IntegrityError as exc:
            raise _translate(exc, key) from exc
        return key

    async def get(self, workspace_id: str, id: str) -> GatewayKey | None:
        async with self._engine.connect() as conn:
            row = (
                await conn.execute(select(t).where(t.c.workspace_id == workspace_id, t.c.id == id))
            ).first()
        return None if row is None else _to_key(row)

    async def find_by_hash(self, key_hash: str) -> GatewayKey | None:
        """The key with this hash if its workspace is not deleted (a cache miss fallback)."""
        query = (
            select(t)
            .join(workspaces, workspaces.c.id == t.c.workspace_id)
            .where(t.c.key_hash == key_hash, workspaces.c.deleted_at.is_(None))
        )
        async with self._engine.connect() as conn:
            row = (await conn.execute(query)).first()
        return None if row is None else _to_key(row)

    async def list(self, workspace_id: str) -> KeyList:
        """Every key of the workspace, revoked ones included, oldest first."""
        query = select(t).where(t.c.workspace_id == workspace_id).order_by(t.c.created_at, t.c.id)
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [_to_key(row) for row in rows]

    async def update(
        self,
        workspace_id: str,
        id: str,
        *,
        updated_at: datetime,
        name: str | Unset = UNSET,
        scopes: Sequence[str] | Unset = UNSET,
        status: KeyStatus | Unset = UNSET,
        expires_at: datetime | Unset | None = UNSET,
        allowed_providers: Sequence[str] | Unset | None = UNSET,
        allowed_models: Sequence[str] | Unset | None = UNSET,
        metadata: Mapping[str, Any] | Unset = UNSET,
        limits: Limits | Unset | None = UNSET,
    ) -> GatewayKey | None:
        """Apply the given changes; None when the key is not in the workspace."""
        values: dict[str, Any] = changes(
            name=name,
            scopes=scopes,
            status=status,
            expires_at=expires_at,
            allowed_providers=allowed_providers,
            allowed_models=allowed_models,
        )
        for column in _JSON_LISTS:
            if column in values:
                values[column] = as_list(values[column])
        if not isinstance(metadata, Unset):
            values["metadata"] = as_dict(metadata)
        if not isinstance(limits, Unset):
            values["limits"] = limits_row(limits)
        values["updated_at"] = updated_at
        query = (
            update(t)
            .where(t.c.workspace_id == workspace_id, t.c.id == id, t.c.status != "revoked")
            .values(values)
            .returning(*t.c)
        )
        async with write_transaction(self._engine) as conn:
            row = (await conn.execute(query)).first()
            if row is None:
                await _refuse_if_revoked(conn, workspace_id, id)
                return None
        return _to_key(row)

    async def rotate(
        self, workspace_id: str, old_id: str, new_key: GatewayKey, at: datetime
    ) -> GatewayKey | None:
        """Revoke ``old_id`` and insert ``new_key`` atomically: both happen or neither does.

        None when the old key is not in the workspace; ``key_revoked`` if it already was.
        """
        if new_key.workspace_id != workspace_id:
            raise ValueError("the new key must belong to the same workspace")
        revoke = (
            update(t)
            .where(t.c.workspace_id == workspace_id, t.c.id == old_id, t.c.status != "revoked")
            .values(status="revoked", updated_at=at)
            .returning(t.c.id)
        )
        try:
            async with write_transaction(self._engine) as conn:
                if (await conn.execute(revoke)).first() is None:
                    await _refuse_if_revoked(conn, workspace_id, old_id)
                    return None
                await conn.execute(insert(t).values(_values(new_key)))
        except IntegrityError as exc:
            raise _translate(exc, new_key) from exc
        return new_key

    async def list_usable(self) -> KeyList:
        """Every non-revoked key of every non-deleted workspace (expired ones included)."""
        query = (
            select(t)
            .join(workspaces, workspaces.c.id == t.c.workspace_id)
            .where(t.c.status != "revoked", workspaces.c.deleted_at.is_(None))
            .order_by(t.c.created_at, t.c.id)
        )
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [_to_key(row) for row in rows]

    async def revoked_hashes(self) -> frozenset[str]:
        """The hashes of every key that can no longer be used: revoked, or of a deleted workspace
        (so a caller presenting one can be told it was revoked rather than never issued)."""
        query = (
            select(t.c.key_hash)
            .join(workspaces, workspaces.c.id == t.c.workspace_id)
            .where(or_(t.c.status == "revoked", workspaces.c.deleted_at.is_not(None)))
        )
        async with self._engine.connect() as conn:
            return frozenset((await conn.execute(query)).scalars().all())

    async def revoke_all_for_workspace(self, workspace_id: str, at: datetime) -> int:
        """Revoke every key of the workspace; the number of keys this revoked."""
        query = (
            update(t)
            .where(t.c.workspace_id == workspace_id, t.c.status != "revoked")
            .values(status="revoked", updated_at=at)
            .returning(t.c.id)
        )
        async with write_transaction(self._engine) as conn:
            return len((await conn.execute(query)).all())


async def _refuse_if_revoked(conn: AsyncConnection, workspace_id: str, id: str) -> None:
    query = select(t.c.status).where(t.c.workspace_id == workspace_id, t.c.id == id)
    if (await conn.execute(query)).scalar() == "revoked":
        raise Conflict(f"gateway key {id} is revoked", code="key_revoked")
