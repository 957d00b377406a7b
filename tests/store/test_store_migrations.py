"""Migrations: idempotent, and the migrated database is exactly ``schema.metadata``."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection

from tests.support.databases import ProvisionedDatabase
from tollgate.store.db import create_engine
from tollgate.store.migrations import current_revision, head_revision, is_up_to_date, migrate
from tollgate.store.records import UsageRecord
from tollgate.store.repos import Store, open_store
from tollgate.store.schema import metadata, usage_records


def _diff(connection: Connection) -> list[object]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, metadata))


async def _open(db: ProvisionedDatabase) -> Store:
    return await open_store(db.base_url, connect_args=db.connect_args)


async def test_migrate_creates_the_schema_and_is_idempotent(database: ProvisionedDatabase) -> None:
    store = await _open(database)
    try:
        assert await current_revision(store.engine) is None
        assert not await is_up_to_date(store.engine)
        await migrate(store.engine)
        await migrate(store.engine)  # every start calls it: a second run changes nothing
        assert await current_revision(store.engine) == head_revision() == "0005"
        assert await is_up_to_date(store.engine)
        async with store.engine.connect() as conn:
            tables = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
        assert tables == {*metadata.tables, "alembic_version"}
    finally:
        await store.close()


async def test_migrated_database_matches_metadata(database: ProvisionedDatabase) -> None:
    store = await _open(database)
    try:
        await migrate(store.engine)
        async with store.engine.connect() as conn:
            assert await conn.run_sync(_diff) == []
    finally:
        await store.close()


async def test_the_comparison_sees_a_missing_index(database: ProvisionedDatabase) -> None:
    """Guards the test above: a drifted database does produce a diff."""
    store = await _open(database)
    try:
        await migrate(store.engine)
        async with store.engine.begin() as conn:
            await conn.execute(text("DROP INDEX ix_usage_records_model"))
            diff = await conn.run_sync(_diff)
        assert [entry[0] for entry in diff if isinstance(entry, tuple)] == ["add_index"]
    finally:
        await store.close()


async def test_concurrent_migrations_do_not_collide(database: ProvisionedDatabase) -> None:
    stores = [await _open(database) for _ in range(3)]
    try:
        await asyncio.gather(*(migrate(s.engine) for s in stores))
        assert await current_revision(stores[0].engine) == head_revision()
    finally:
        for s in stores:
            await s.close()


async def test_self_contained_url_reaches_the_same_database(database: ProvisionedDatabase) -> None:
    """``db.url`` alone (as Settings would pass it) sees what the base URL + connect_args created."""
    first = await _open(database)
    second = await open_store(database.url)
    try:
        await migrate(first.engine)
        assert await current_revision(second.engine) == head_revision()
        await second.ping()
    finally:
        await first.close()
        await second.close()


def test_every_usage_field_has_a_column() -> None:
    fields = {f.name for f in dataclasses.fields(UsageRecord)}
    assert set(usage_records.c.keys()) == fields | {"total_tokens"}


async def test_sqlite_runs_in_wal_with_foreign_keys(tmp_path: Path) -> None:
    store = await open_store(f"sqlite:///{tmp_path / 'deep' / 'er' / 'tollgate.db'}")
    try:
        async with store.engine.connect() as conn:
            mode = (await conn.execute(text("PRAGMA journal_mode"))).scalar()
            fks = (await conn.execute(text("PRAGMA foreign_keys"))).scalar()
            sync = (await conn.execute(text("PRAGMA synchronous"))).scalar()
        assert (mode, fks, sync) == ("wal", 1, 1)  # synchronous 1 = NORMAL
        assert (tmp_path / "deep" / "er").is_dir()
    finally:
        await store.close()


def test_unsupported_backends_are_refused() -> None:
    with pytest.raises(ValueError, match="unsupported"):
        create_engine("mysql://root@localhost/tollgate")
