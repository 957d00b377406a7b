"""Gateway keys: round trips, conflicts, updates, atomic rotation, the usable set."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from tollgate.core.errors import Conflict, NotFound
from tollgate.store.records import Workspace
from tollgate.store.repos import Store

from .factories import T0, Make


async def test_round_trip(store: Store, ws: Workspace, make: Make) -> None:
    key = make.key(
        ws.id,
        scopes=("proxy", "admin"),
        expires_at=T0 + timedelta(days=30),
        allowed_providers=("openai", "anthropic"),
        allowed_models=(),
        metadata={"team": "search", "n": 3},
    )
    assert await store.keys.create(key) == key
    assert await store.keys.get(ws.id, key.id) == key
    bare = await store.keys.create(make.key(ws.id))
    got = await store.keys.get(ws.id, bare.id)
    assert got is not None
    assert got == bare
    assert got.allowed_providers is None and got.expires_at is None


async def test_reads_are_scoped_by_workspace(store: Store, ws: Workspace, make: Make) -> None:
    other = await store.workspaces.create(make.workspace())
    key = await store.keys.create(make.key(ws.id))
    assert await store.keys.get(other.id, key.id) is None
    assert await store.keys.list(other.id) == []
    assert await store.keys.update(other.id, key.id, updated_at=T0, name="stolen") is None
    assert await store.keys.rotate(other.id, key.id, make.key(other.id), T0) is None
    assert (await store.keys.get(ws.id, key.id)) == key


async def test_duplicate_hash_or_id_is_a_conflict(store: Store, ws: Workspace, make: Make) -> None:
    key = await store.keys.create(make.key(ws.id))
    for clash in (make.key(ws.id, key_hash=key.key_hash), make.key(ws.id, id=key.id)):
        with pytest.raises(Conflict) as err:
            await store.keys.create(clash)
        assert err.value.code == "key_exists"


async def test_unknown_workspace_is_not_found(store: Store, make: Make) -> None:
    with pytest.raises(NotFound) as err:
        await store.keys.create(make.key("ws_missing"))
    assert err.value.code == "workspace_not_found"


async def test_update_changes_only_what_is_given(store: Store, ws: Workspace, make: Make) -> None:
    key = await store.keys.create(
        make.key(ws.id, expires_at=T0 + timedelta(days=1), allowed_models=("gpt-4o",))
    )
    later = T0 + timedelta(hours=5)
    updated = await store.keys.update(
        ws.id,
        key.id,
        updated_at=later,
        name="renamed",
        scopes=["read"],
        expires_at=None,
        allowed_providers=["openai"],
        allowed_models=None,
        metadata={"v": 2},
    )
    expected = replace(
        key,
        name="renamed",
        scopes=("read",),
        expires_at=None,
        allowed_providers=("openai",),
        allowed_models=None,
        metadata={"v": 2},
        updated_at=later,
    )
    assert updated == expected
    assert await store.keys.get(ws.id, key.id) == expected
    status_only = await store.keys.update(ws.id, key.id, updated_at=later, status="inactive")
    assert status_only == replace(expected, status="inactive")


async def test_revoked_is_terminal(store: Store, ws: Workspace, make: Make) -> None:
    key = await store.keys.create(make.key(ws.id))
    revoked = await store.keys.update(ws.id, key.id, updated_at=T0, status="revoked")
    assert revoked is not None and revoked.status == "revoked"
    with pytest.raises(Conflict) as err:
        await store.keys.update(ws.id, key.id, updated_at=T0, status="active")
    assert err.value.code == "key_revoked"
    with pytest.raises(Conflict):
        await store.keys.rotate(ws.id, key.id, make.key(ws.id), T0)
    assert await store.keys.update(ws.id, "key_missing", updated_at=T0, name="x") is None


async def test_rotate_revokes_the_old_and_inserts_the_new(store: Store, ws: Workspace, make: Make) -> None:
    old = await store.keys.create(make.key(ws.id))
    new = make.key(ws.id)
    at = T0 + timedelta(days=2)
    assert await store.keys.rotate(ws.id, old.id, new, at) == new
    assert await store.keys.get(ws.id, old.id) == replace(old, status="revoked", updated_at=at)
    assert await store.keys.get(ws.id, new.id) == new
    assert {k.id for k in await store.keys.list_usable()} == {new.id}


async def test_rotate_is_atomic(store: Store, ws: Workspace, make: Make) -> None:
    """If the new key cannot be stored, the old one is not revoked either."""
    old = await store.keys.create(make.key(ws.id))
    other = await store.keys.create(make.key(ws.id))
    clashing = make.key(ws.id, key_hash=other.key_hash)
    with pytest.raises(Conflict):
        await store.keys.rotate(ws.id, old.id, clashing, T0 + timedelta(days=1))
    assert await store.keys.get(ws.id, old.id) == old
    assert await store.keys.get(ws.id, clashing.id) is None


async def test_rotate_requires_the_same_workspace(store: Store, ws: Workspace, make: Make) -> None:
    old = await store.keys.create(make.key(ws.id))
    with pytest.raises(ValueError):
        await store.keys.rotate(ws.id, old.id, make.key("ws_other"), T0)


async def test_usable_keys_skip_revoked_and_deleted_workspaces(
    store: Store, ws: Workspace, make: Make
) -> None:
    doomed = await store.workspaces.create(make.workspace())
    active = await store.keys.create(make.key(ws.id))
    inactive = await store.keys.create(make.key(ws.id, status="inactive"))
    expired = await store.keys.create(make.key(ws.id, expires_at=T0 - timedelta(days=1)))
    await store.keys.create(make.key(ws.id, status="revoked"))
    await store.keys.create(make.key(doomed.id))
    await store.workspaces.soft_delete(doomed.id, T0)
    usable = await store.keys.list_usable()
    assert {k.id for k in usable} == {active.id, inactive.id, expired.id}
    assert await store.keys.find_by_hash(active.key_hash) == active
    assert await store.keys.find_by_hash("0" * 64) is None


async def test_revoke_all_for_workspace(store: Store, ws: Workspace, make: Make) -> None:
    other = await store.workspaces.create(make.workspace())
    mine = [await store.keys.create(make.key(ws.id)) for _ in range(3)]
    theirs = await store.keys.create(make.key(other.id))
    await store.keys.update(ws.id, mine[0].id, updated_at=T0, status="revoked")
    assert await store.keys.revoke_all_for_workspace(ws.id, T0 + timedelta(days=1)) == 2
    assert {k.status for k in await store.keys.list(ws.id)} == {"revoked"}
    assert [k.id for k in await store.keys.list_usable()] == [theirs.id]
    assert [k.id for k in await store.keys.list(ws.id)] == [k.id for k in mine]
