"""Workspaces: the tenant. Deleting one revokes its keys at once."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tollgate.core.clock import Clock
from tollgate.core.errors import BadRequest, NotFound
from tollgate.core.ids import IdFactory
from tollgate.services.analytics.periods import zone_named
from tollgate.services.limits.plans import check_workspace_settings
from tollgate.services.retention import retention_days
from tollgate.services.state import LiveState
from tollgate.store.records import Workspace
from tollgate.store.repos import Store

NAME_MAX = 200


def _name(value: object) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > NAME_MAX:
        raise BadRequest(
            f"name must be a non-empty string of at most {NAME_MAX} characters", code="invalid_name"
        )
    return value.strip()


def _settings(value: object) -> dict[str, Any]:
    """Settings are free-form, except the ones tollgate reads: ``timeZone`` (an IANA name; dates in
    analytics and budget periods are this zone's), ``retentionDays`` (how long raw usage rows are
    kept), ``plan`` and ``limits`` (rate limits and quota, ``services/limits/plans``)."""
    if not isinstance(value, Mapping):
        raise BadRequest("settings must be an object", code="invalid_settings")
    if "timeZone" in value:
        zone_named(value["timeZone"])
    if "retentionDays" in value:
        retention_days(value)
    check_workspace_settings(value)
    return dict(value)


class WorkspaceService:
    def __init__(self, store: Store, state: LiveState, clock: Clock, ids: IdFactory) -> None:
        self._store = store
        self._state = state
        self._clock = clock
        self._ids = ids

    async def create(self, name: object, settings: object = None) -> Workspace:
        now = self._clock.now()
        workspace = Workspace(
            id=self._ids.new("ws"),
            name=_name(name),
            created_at=now,
            updated_at=now,
            settings=_settings(settings) if settings is not None else {},
        )
        await self._store.workspaces.create(workspace)
        if workspace.settings:
            await self._state.changed()
        return workspace

    async def get(self, workspace_id: str) -> Workspace:
        workspace = await self._store.workspaces.get(workspace_id)
        if workspace is None:
            raise NotFound(f"workspace {workspace_id} not found", code="workspace_not_found")
        return workspace

    async def list(self, limit: int, cursor: str | None) -> tuple[list[Workspace], str | None]:
        return await self._store.workspaces.list(limit, cursor)

    async def update(self, workspace_id: str, body: Mapping[str, Any]) -> Workspace:
        await self.get(workspace_id)
        updated = await self._store.workspaces.update(
            workspace_id,
            name=_name(body["name"]) if "name" in body else None,
            settings=_settings(body["settings"]) if "settings" in body else None,
            updated_at=self._clock.now(),
        )
        if updated is None:
            raise NotFound(f"workspace {workspace_id} not found", code="workspace_not_found")
        if "settings" in body:
            await self._state.changed()  # limits and the time zone are served from memory
        return updated

    async def delete(self, workspace_id: str) -> None:
        now = self._clock.now()
        await self._store.keys.revoke_all_for_workspace(workspace_id, now)
        if not await self._store.workspaces.soft_delete(workspace_id, now):
            raise NotFound(f"workspace {workspace_id} not found", code="workspace_not_found")
        await self._state.changed()
