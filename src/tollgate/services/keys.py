"""Gateway keys: minting and lifecycle. (Lookups on the hot path live in ``LiveState``.)

A raw key is ``tg_`` + 32 random bytes (URL-safe base64). Only its SHA-256 is stored; the raw
key is returned once, at creation or rotation. Every change reaches all workers through
``LiveState.changed``.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from tollgate.core.clock import Clock
from tollgate.core.errors import BadRequest, NotFound
from tollgate.core.ids import IdFactory
from tollgate.services.credentials import supported_spec
from tollgate.services.limits.plans import parse_limits
from tollgate.services.state import LiveState, hash_key
from tollgate.store.records import DEFAULT_SCOPES, SCOPES, GatewayKey, KeyStatus, Limits
from tollgate.store.repos import Store

KEY_PREFIX = "tg_"


def mint_raw_key(random_bytes: Callable[[int], bytes] = os.urandom) -> str:
    return KEY_PREFIX + base64.urlsafe_b64encode(random_bytes(32)).rstrip(b"=").decode()


def validate_scopes(scopes: Sequence[str] | None) -> tuple[str, ...]:
    if scopes is None:
        return DEFAULT_SCOPES
    unknown = sorted(set(scopes) - set(SCOPES))
    if unknown or not scopes:
        raise BadRequest(f"scopes must be a non-empty subset of {', '.join(SCOPES)}", code="invalid_scopes")
    return tuple(s for s in SCOPES if s in scopes)


def validate_providers(providers: Sequence[str] | None) -> tuple[str, ...] | None:
    """Canonical provider ids (``google`` -> ``gemini``), as the pipeline compares them."""
    if providers is None:
        return None
    canonical = [supported_spec(p).id for p in providers]
    return tuple(dict.fromkeys(canonical))


def validate_models(models: Sequence[str] | None) -> tuple[str, ...] | None:
    if models is None:
        return None
    if any(not m.strip() for m in models):
        raise BadRequest("allowedModels must be non-empty model names", code="invalid_models")
    return tuple(dict.fromkeys(m.strip() for m in models))


def utc_expiry(value: datetime | None) -> datetime | None:
    """An expiry as aware UTC; a value without a zone (``2030-01-01``) is read as UTC."""
    if value is None:
        return None
    try:
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    except OverflowError as exc:
        raise BadRequest("expiresAt is out of range", code="invalid_expires_at") from exc


# Fields a PATCH may set but never to null (the others: null clears them).
_NOT_NULL = ("name", "scopes", "status", "metadata")


def _checked_changes(changes: dict[str, Any]) -> dict[str, Any]:
    for field in _NOT_NULL:
        if field in changes and changes[field] is None:
            raise BadRequest(f"{field} cannot be null", code="invalid_request")
    if "scopes" in changes:
        changes["scopes"] = validate_scopes(changes["scopes"])
    if "expires_at" in changes:
        changes["expires_at"] = utc_expiry(changes["expires_at"])
    if "allowed_providers" in changes:
        changes["allowed_providers"] = validate_providers(changes["allowed_providers"])
    if "allowed_models" in changes:
        changes["allowed_models"] = validate_models(changes["allowed_models"])
    if "limits" in changes:
        changes["limits"] = parse_limits(changes["limits"], "limits", quota=False)
    return changes


@dataclass(frozen=True, slots=True)
class MintedKey:
    key: GatewayKey
    raw: str


class KeyService:
    """Lifecycle of gateway keys. Every change bumps the feed and refreshes this worker's cache."""

    def __init__(
        self,
        store: Store,
        state: LiveState,
        clock: Clock,
        ids: IdFactory,
        random_bytes: Callable[[int], bytes] = os.urandom,
    ) -> None:
        self._store = store
        self._state = state
        self._clock = clock
        self._ids = ids
        self._random_bytes = random_bytes

    async def _changed(self) -> None:
        await self._state.changed()

    def _new_key(
        self,
        workspace_id: str,
        name: str,
        scopes: tuple[str, ...],
        expires_at: datetime | None,
        metadata: Mapping[str, Any],
        allowed_providers: tuple[str, ...] | None = None,
        allowed_models: tuple[str, ...] | None = None,
        limits: Limits | None = None,
    ) -> MintedKey:
        raw = mint_raw_key(self._random_bytes)
        now = self._clock.now()
        key = GatewayKey(
            id=self._ids.new("key"),
            workspace_id=workspace_id,
            name=name,
            key_hash=hash_key(raw),
            preview=raw[-4:],
            scopes=scopes,
            status="active",
            created_at=now,
            updated_at=now,
            expires_at=expires_at,
            allowed_providers=allowed_providers,
            allowed_models=allowed_models,
            metadata=dict(metadata),
            limits=limits,
        )
        return MintedKey(key, raw)

    async def create(
        self,
        workspace_id: str,
        *,
        name: str,
        scopes: Sequence[str] | None = None,
        expires_at: datetime | None = None,
        metadata: Mapping[str, Any] | None = None,
        allowed_providers: Sequence[str] | None = None,
        allowed_models: Sequence[str] | None = None,
        limits: object = None,
    ) -> MintedKey:
        minted = self._new_key(
            workspace_id,
            name,
            validate_scopes(scopes),
            utc_expiry(expires_at),
            metadata or {},
            validate_providers(allowed_providers),
            validate_models(allowed_models),
            parse_limits(limits, "limits", quota=False),
        )
        await self._store.keys.create(minted.key)
        await self._changed()
        return minted

    async def get(self, workspace_id: str, key_id: str) -> GatewayKey:
        key = await self._store.keys.get(workspace_id, key_id)
        if key is None:
            raise NotFound(f"key {key_id} not found", code="key_not_found")
        return key

    async def list(self, workspace_id: str) -> list[GatewayKey]:
        return await self._store.keys.list(workspace_id)

    async def update(self, workspace_id: str, key_id: str, **changes: Any) -> GatewayKey:
        current = await self.get(workspace_id, key_id)
        if current.status == "revoked" and changes:
            raise BadRequest("a revoked key cannot be changed", code="key_revoked")
        status: KeyStatus | None = changes.get("status")
        if status == "revoked":
            raise BadRequest("revoke a key with DELETE", code="invalid_status")
        changes = _checked_changes(changes)
        updated = await self._store.keys.update(workspace_id, key_id, updated_at=self._clock.now(), **changes)
        if updated is None:
            raise NotFound(f"key {key_id} not found", code="key_not_found")
        await self._changed()
        return updated

    async def revoke(self, workspace_id: str, key_id: str) -> GatewayKey:
        current = await self.get(workspace_id, key_id)
        if current.status == "revoked":
            return current
        updated = await self._store.keys.update(
            workspace_id, key_id, updated_at=self._clock.now(), status="revoked"
        )
        await self._changed()
        return updated or replace(current, status="revoked")

    async def rotate(self, workspace_id: str, key_id: str) -> MintedKey:
        current = await self.get(workspace_id, key_id)
        if current.status == "revoked":
            raise BadRequest("a revoked key cannot be rotated", code="key_revoked")
        minted = self._new_key(
            workspace_id,
            current.name,
            current.scopes,
            current.expires_at,
            current.metadata,
            current.allowed_providers,
            current.allowed_models,
            current.limits,
        )
        rotated = await self._store.keys.rotate(workspace_id, key_id, minted.key, self._clock.now())
        if rotated is None:
            raise NotFound(f"key {key_id} not found", code="key_not_found")
        await self._changed()
        return MintedKey(rotated, minted.raw)
