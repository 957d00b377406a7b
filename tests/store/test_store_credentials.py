"""Provider credentials: uniqueness, one default per provider, reseal in one transaction."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from tollgate.core.errors import Conflict, NotFound
from tollgate.store.records import ProviderCredential, Workspace
from tollgate.store.repos import Store

from .factories import T0, Make


async def _defaults(store: Store, workspace_id: str, provider: str) -> list[str]:
    return [c.id for c in await store.credentials.list(workspace_id, provider=provider) if c.is_default]


async def test_round_trip(store: Store, ws: Workspace, make: Make) -> None:
    cred = make.credential(
        ws.id,
        provider="azure_openai",
        secret_kind="apiKey",
        config={"baseUrl": "https://x.openai.azure.com", "deployment": "gpt4o", "apiVersion": "2024-10-21"},
        is_default=True,
    )
    assert await store.credentials.create(cred) == cred
    assert await store.credentials.get(ws.id, cred.id) == cred
    other = await store.workspaces.create(make.workspace())
    assert await store.credentials.get(other.id, cred.id) is None
    assert await store.credentials.list(other.id) == []


async def test_same_name_for_the_same_provider_is_a_conflict(store: Store, ws: Workspace, make: Make) -> None:
    first = await store.credentials.create(make.credential(ws.id, name="prod"))
    with pytest.raises(Conflict) as err:
        await store.credentials.create(make.credential(ws.id, name="prod"))
    assert err.value.code == "credential_exists"
    await store.credentials.create(make.credential(ws.id, name="prod", provider="anthropic"))
    other = await store.workspaces.create(make.workspace())
    await store.credentials.create(make.credential(other.id, name="prod"))
    renamed = await store.credentials.create(make.credential(ws.id, name="staging"))
    with pytest.raises(Conflict) as err:
        await store.credentials.update(ws.id, renamed.id, updated_at=T0, name="prod")
    assert err.value.code == "credential_exists"
    assert await store.credentials.get(ws.id, first.id) == first


async def test_unknown_workspace_is_not_found(store: Store, make: Make) -> None:
    with pytest.raises(NotFound) as err:
        await store.credentials.create(make.credential("ws_missing"))
    assert err.value.code == "workspace_not_found"


async def test_one_default_per_provider(store: Store, ws: Workspace, make: Make) -> None:
    a = await store.credentials.create(make.credential(ws.id, is_default=True))
    anthropic = await store.credentials.create(make.credential(ws.id, provider="anthropic", is_default=True))
    b = await store.credentials.create(make.credential(ws.id, is_default=True))
    assert await _defaults(store, ws.id, "openai") == [b.id]
    updated = await store.credentials.update(ws.id, a.id, updated_at=T0, is_default=True)
    assert updated is not None and updated.is_default
    assert await _defaults(store, ws.id, "openai") == [a.id]
    assert await _defaults(store, ws.id, "anthropic") == [anthropic.id]
    await store.credentials.update(ws.id, a.id, updated_at=T0, is_default=False)
    assert await _defaults(store, ws.id, "openai") == []


async def test_defaults_do_not_cross_workspaces(store: Store, ws: Workspace, make: Make) -> None:
    other = await store.workspaces.create(make.workspace())
    theirs = await store.credentials.create(make.credential(other.id, is_default=True))
    await store.credentials.create(make.credential(ws.id, is_default=True))
    assert await _defaults(store, other.id, "openai") == [theirs.id]


async def test_update_and_delete(store: Store, ws: Workspace, make: Make) -> None:
    cred = await store.credentials.create(make.credential(ws.id))
    later = T0 + timedelta(days=1)
    updated = await store.credentials.update(
        ws.id,
        cred.id,
        updated_at=later,
        name="renamed",
        sealed_secret="v1:mk1:new",
        secret_kind="secrets",
        last4="wxyz",
        config={"region": "eu-west-1"},
        status="inactive",
    )
    expected = replace(
        cred,
        name="renamed",
        sealed_secret="v1:mk1:new",
        secret_kind="secrets",
        last4="wxyz",
        config={"region": "eu-west-1"},
        status="inactive",
        updated_at=later,
    )
    assert updated == expected == await store.credentials.get(ws.id, cred.id)
    assert await store.credentials.update(ws.id, "pc_missing", updated_at=later, name="x") is None
    other = await store.workspaces.create(make.workspace())
    assert not await store.credentials.delete(other.id, cred.id)
    assert await store.credentials.delete(ws.id, cred.id)
    assert not await store.credentials.delete(ws.id, cred.id)
    assert await store.credentials.get(ws.id, cred.id) is None


async def test_list_filters_by_provider(store: Store, ws: Workspace, make: Make) -> None:
    openai = [await store.credentials.create(make.credential(ws.id)) for _ in range(2)]
    anthropic = await store.credentials.create(make.credential(ws.id, provider="anthropic"))
    assert [c.id for c in await store.credentials.list(ws.id, provider="openai")] == [c.id for c in openai]
    assert {c.id for c in await store.credentials.list(ws.id)} == {*(c.id for c in openai), anthropic.id}


async def test_active_credentials_skip_inactive_and_deleted_workspaces(
    store: Store, ws: Workspace, make: Make
) -> None:
    doomed = await store.workspaces.create(make.workspace())
    active = await store.credentials.create(make.credential(ws.id))
    await store.credentials.create(make.credential(ws.id, status="inactive"))
    await store.credentials.create(make.credential(doomed.id))
    await store.workspaces.soft_delete(doomed.id, T0)
    assert await store.credentials.list_active() == [active]


async def test_reseal_all_rewrites_every_credential(store: Store, ws: Workspace, make: Make) -> None:
    other = await store.workspaces.create(make.workspace())
    creds = [await store.credentials.create(make.credential(w.id)) for w in (ws, ws, other)]
    seen: list[ProviderCredential] = []

    def reseal(cred: ProviderCredential) -> str:
        seen.append(cred)
        return cred.sealed_secret.replace("mk1", "mk2")

    assert await store.credentials.reseal_all(reseal) == 3
    assert sorted(c.id for c in seen) == sorted(c.id for c in creds)
    for cred in creds:
        stored = await store.credentials.get(cred.workspace_id, cred.id)
        assert stored == replace(cred, sealed_secret=cred.sealed_secret.replace("mk1", "mk2"))


async def test_reseal_all_changes_nothing_when_one_fails(store: Store, ws: Workspace, make: Make) -> None:
    creds = [await store.credentials.create(make.credential(ws.id)) for _ in range(3)]
    broken = creds[1].id

    def reseal(cred: ProviderCredential) -> str:
        if cred.id == broken:
            raise RuntimeError("cannot open this one")
        return "v1:mk2:resealed"

    with pytest.raises(RuntimeError):
        await store.credentials.reseal_all(reseal)
    assert await store.credentials.list(ws.id) == creds


async def test_reseal_all_on_an_empty_store(store: Store) -> None:
    assert await store.credentials.reseal_all(lambda c: c.sealed_secret) == 0
