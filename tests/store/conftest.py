"""Fixtures for the store contract suite: every test runs on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.support.databases import (
    BACKENDS,
    ProvisionedDatabase,
    make_test_store,
    provision_database,
)
from tollgate.store.records import Workspace
from tollgate.store.repos import Store

from .factories import Make


@pytest.fixture
def make() -> Make:
    return Make()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    kind: str = request.param
    return kind


@pytest.fixture
async def database(backend: str, tmp_path: Path) -> AsyncIterator[ProvisionedDatabase]:
    """An empty database, not migrated."""
    db = await provision_database(backend, tmp_path)
    try:
        yield db
    finally:
        await db.cleanup()


@pytest.fixture
async def store(backend: str, tmp_path: Path) -> AsyncIterator[Store]:
    """A migrated store over a fresh database."""
    opened, cleanup = await make_test_store(backend, tmp_path)
    try:
        yield opened
    finally:
        await cleanup()


@pytest.fixture
async def ws(store: Store, make: Make) -> Workspace:
    """One workspace that already exists in ``store``."""
    return await store.workspaces.create(make.workspace())
