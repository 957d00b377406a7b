"""Provider credentials (BYOK): sealed secrets plus non-secret config.

Invariants: (workspace, provider, name) is unique (``credential_exists``); at most one credential
per (workspace, provider) is the default, because setting ``is_default`` clears the flag on the
others in the same transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import Row, bindparam, delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from tollgate.core.errors import Conflict, TollgateError
from tollgate.store._base import UNSET, Repository, Unset, as_dict, changes, translate_integrity
from tollgate.store.db import write_transaction
from tollgate.store.records import CredentialStatus, ProviderCredential
from tollgate.store.schema import provider_credentials as t
from tollgate.store.schema import workspaces

CredentialList = list[ProviderCredential]


def _to_credential(row: Row[Any]) -> ProviderCredential:
    return ProviderCredential(
        id=row.id,
        workspace_id=row.workspace_id,
        provider=row.provider,
        name=row.name,
        sealed_secret=row.sealed_secret,
        secret_kind=row.secret_kind,
        last4=row.last4,
        config=row.config,
        is_default=row.is_default,
        status=row.status,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _values(cred: ProviderCredential) -> dict[str, Any]:
    return {
        "id": cred.id,
        "workspace_id": cred.workspace_id,
        "provider": cred.provider,
        "name": cred.name,
        "sealed_secret": cred.sealed_secret,
        "secret_kind": cred.secret_kind,
        "last4": cred.last4,
        "config": as_dict(cred.config),
        "is_default": cred.is_default,
        "status": cred.status,
        "created_at": cred.created_at,
        "updated_at": cred.updated_at,
    }


def _translate(exc: IntegrityError, workspace_id: str) -> TollgateError:
    conflict = Conflict(
        "a credential with this name already exists for this provider", code="credential_exists"
    )
    return translate_integrity(exc, conflict=conflict, workspace_id=workspace_id)


async def _clear_default(conn: AsyncConnection, workspace_id: str, provider: str, keep_id: str) -> None:
    await conn.execute(
        update(t)
        .where(t.c.workspace_id == workspace_id, t.c.provider == provider, t.c.id != keep_id)
        .where(t.c.is_default.is_(True))
        .values(is_default=False)
    )


class CredentialRepository(Repository):
    async def create(self, cred: ProviderCredential) -> ProviderCredential:
        try:
            async with write_transaction(self._engine) as conn:
                await conn.execute(insert(t).values(_values(cred)))
                if cred.is_default:
                    await _clear_default(conn, cred.workspace_id, cred.provider, cred.id)
        except IntegrityError as exc:
            raise _translate(exc, cred.workspace_id) from exc
        return cred

    async def get(self, workspace_id: str, id: str) -> ProviderCredential | None:
        query = select(t).where(t.c.workspace_id == workspace_id, t.c.id == id)
        async with self._engine.connect() as conn:
            row = (await conn.execute(query)).first()
        return None if row is None else _to_credential(row)

    async def list(self, workspace_id: str, provider: str | None = None) -> CredentialList:
        """The workspace's credentials (optionally of one provider), by provider then name."""
        query = select(t).where(t.c.workspace_id == workspace_id)
        if provider is not None:
            query = query.where(t.c.provider == provider)
        query = query.order_by(t.c.provider, t.c.name, t.c.id)
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [_to_credential(row) for row in rows]

    async def update(
        self,
        workspace_id: str,
        id: str,
        *,
        updated_at: datetime,
        name: str | Unset = UNSET,
        sealed_secret: str | Unset = UNSET,
        secret_kind: Literal["apiKey", "secrets"] | Unset = UNSET,
        last4: str | Unset = UNSET,
        config: Mapping[str, Any] | Unset = UNSET,
        is_default: bool | Unset = UNSET,
        status: CredentialStatus | Unset = UNSET,
    ) -> ProviderCredential | None:
        """Apply the given changes; None when the credential is not in the workspace."""
        values: dict[str, Any] = changes(
            name=name,
            sealed_secret=sealed_secret,
            secret_kind=secret_kind,
            last4=last4,
            is_default=is_default,
            status=status,
        )
        if not isinstance(config, Unset):
            values["config"] = as_dict(config)
        values["updated_at"] = updated_at
        query = update(t).where(t.c.workspace_id == workspace_id, t.c.id == id).values(values).returning(*t.c)
        try:
            async with write_transaction(self._engine) as conn:
                row = (await conn.execute(query)).first()
                if row is None:
                    return None
                if is_default is True:
                    await _clear_default(conn, workspace_id, row.provider, id)
        except IntegrityError as exc:
            raise _translate(exc, workspace_id) from exc
        return _to_credential(row)

    async def delete(self, workspace_id: str, id: str) -> bool:
        query = delete(t).where(t.c.workspace_id == workspace_id, t.c.id == id).returning(t.c.id)
        async with write_transaction(self._engine) as conn:
            return (await conn.execute(query)).first() is not None

    async def list_active(self) -> CredentialList:
        """Active credentials of every non-deleted workspace (feeds the in-memory cache)."""
        query = (
            select(t)
            .join(workspaces, workspaces.c.id == t.c.workspace_id)
            .where(t.c.status == "active", workspaces.c.deleted_at.is_(None))
            .order_by(t.c.workspace_id, t.c.provider, t.c.name)
        )
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [_to_credential(row) for row in rows]

    async def reseal_all(self, fn: Callable[[ProviderCredential], str]) -> int:
        """Replace every credential's ``sealed_secret`` with ``fn(credential)`` in ONE transaction.

        Used by master-key rotation: if ``fn`` raises for any credential, nothing is changed.
        ``updated_at`` is left alone (the secret itself did not change).
        """
        async with write_transaction(self._engine) as conn:
            rows = (await conn.execute(select(t).order_by(t.c.id))).all()
            params = [{"b_id": row.id, "b_sealed": fn(_to_credential(row))} for row in rows]
            if params:
                query = (
                    update(t).where(t.c.id == bindparam("b_id")).values(sealed_secret=bindparam("b_sealed"))
                )
                await conn.execute(query, params)
        return len(params)
