"""Test databases: run the same suite on SQLite and on PostgreSQL.

SQLite uses a fresh file under the test's ``tmp_path``. PostgreSQL needs the server URL in
``TOLLGATE_TEST_DATABASE_URL`` (e.g. ``postgresql://postgres@127.0.0.1:5432/test``); each test
gets its own schema, created here and dropped on cleanup, so parallel runs never meet. Without the
variable the PostgreSQL variants are skipped, with the reason shown.

    @pytest.fixture(params=BACKENDS)
    async def store(request, tmp_path):
        async with open_test_store(request.param, tmp_path) as store:
            yield store

End-to-end suites that build the app from ``Settings`` can use ``provision_database`` and pass
``db.url`` as the database URL: it carries ``?search_path=<schema>``, which
``tollgate.store.db.create_engine`` turns into the connection's search path.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from tollgate.store.migrations import migrate
from tollgate.store.repos import Store, open_store

ENV_VAR = "TOLLGATE_TEST_DATABASE_URL"
BACKENDS = ("sqlite", "postgres")
SKIP_REASON = (
    f"PostgreSQL variant skipped: set {ENV_VAR} (e.g. postgresql://postgres@127.0.0.1:5432/test) to run it"
)


async def _nothing() -> None:
    return None


@dataclass(frozen=True)
class ProvisionedDatabase:
    """An empty database (SQLite file or PostgreSQL schema) for one test."""

    kind: str
    url: str  # self-contained: usable as Settings.database_url
    base_url: str  # without the schema; use with connect_args
    connect_args: Mapping[str, Any] = field(default_factory=dict)
    schema: str | None = None
    cleanup: Callable[[], Awaitable[None]] = _nothing


def postgres_server_url() -> str:
    """The PostgreSQL server to test against, or skip the test with the reason."""
    url = os.environ.get(ENV_VAR, "").strip()
    if not url:
        pytest.skip(SKIP_REASON)
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def provision_database(kind: str, tmp_path: Path) -> ProvisionedDatabase:
    if kind == "sqlite":
        url = f"sqlite:///{tmp_path / 'tollgate.db'}"
        return ProvisionedDatabase(kind=kind, url=url, base_url=url)
    if kind != "postgres":
        raise ValueError(f"unknown test database kind {kind!r}")
    server = postgres_server_url()
    schema = f"tg_test_{uuid.uuid4().hex[:16]}"
    conn = await asyncpg.connect(server)
    try:
        await conn.execute(f'CREATE SCHEMA "{schema}"')
    finally:
        await conn.close()

    async def drop() -> None:
        conn = await asyncpg.connect(server)
        try:
            await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        finally:
            await conn.close()

    in_schema = make_url(server).update_query_dict({"search_path": schema})
    return ProvisionedDatabase(
        kind=kind,
        url=in_schema.render_as_string(hide_password=False),
        base_url=server,
        connect_args={"server_settings": {"search_path": schema}},
        schema=schema,
        cleanup=drop,
    )


async def make_test_store(
    kind: str, tmp_path: Path, *, migrated: bool = True
) -> tuple[Store, Callable[[], Awaitable[None]]]:
    """A store over a fresh database, migrated unless told not to, and its cleanup."""
    db = await provision_database(kind, tmp_path)
    store = await open_store(db.base_url, connect_args=db.connect_args)

    async def cleanup() -> None:
        try:
            await store.close()
        finally:
            await db.cleanup()

    try:
        if migrated:
            await migrate(store.engine)
    except BaseException:
        await cleanup()
        raise
    return store, cleanup


@asynccontextmanager
async def open_test_store(kind: str, tmp_path: Path, *, migrated: bool = True) -> AsyncIterator[Store]:
    store, cleanup = await make_test_store(kind, tmp_path, migrated=migrated)
    try:
        yield store
    finally:
        await cleanup()
