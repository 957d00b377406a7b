"""Engines and transactions for SQLite (embedded) and PostgreSQL (shared).

SQLite connections run in WAL mode with ``synchronous=NORMAL``, foreign keys on and a busy
timeout. SQLAlchemy, not the ``sqlite3`` module, emits ``BEGIN``, so reads sit inside a real
transaction and DDL is transactional. Write transactions begin ``IMMEDIATE``: they take the
write lock up front (waiting up to the busy timeout) instead of failing half-way when a read
transaction tries to upgrade after another writer committed.

A PostgreSQL URL may carry ``?search_path=schema``: it becomes the connection's search path,
so tollgate can live in its own schema (tests use one fresh schema per test).
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import event
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry

from tollgate.core.settings import to_async_url

SQLITE_BUSY_TIMEOUT_MS = 10_000
PG_POOL_SIZE = 10
PG_MAX_OVERFLOW = 10
PG_POOL_RECYCLE_S = 1800
_WRITE_OPTION = "tollgate_write"
_WAL_RETRY_S = 0.01


def _json_dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def create_engine(url: str, *, connect_args: Mapping[str, Any] | None = None) -> AsyncEngine:
    """An async engine for a SQLite or PostgreSQL URL (plain or driver-qualified)."""
    parsed = make_url(to_async_url(url))
    args = dict(connect_args or {})
    common: dict[str, Any] = {"json_serializer": _json_dumps, "json_deserializer": orjson.loads}
    if parsed.get_backend_name() == "sqlite":
        _make_parent_folder(parsed)
        engine = create_async_engine(parsed, connect_args=args, **common)
        _install_sqlite_hooks(engine)
        return engine
    if parsed.get_backend_name() == "postgresql":
        parsed, args = _pg_search_path(parsed, args)
        return create_async_engine(
            parsed,
            connect_args=args,
            pool_size=PG_POOL_SIZE,
            max_overflow=PG_MAX_OVERFLOW,
            pool_pre_ping=True,
            pool_recycle=PG_POOL_RECYCLE_S,
            **common,
        )
    raise ValueError(f"unsupported database backend {parsed.get_backend_name()!r}")


@asynccontextmanager
async def write_transaction(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """One transaction meant to write: committed on success, rolled back on any error."""
    async with engine.connect() as conn:
        conn = await conn.execution_options(**{_WRITE_OPTION: True})
        async with conn.begin():
            yield conn


def _make_parent_folder(url: URL) -> None:
    database = url.database or ""
    if database and database != ":memory:" and not database.startswith("file:"):
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)


def _pg_search_path(url: URL, args: dict[str, Any]) -> tuple[URL, dict[str, Any]]:
    search_path = url.query.get("search_path")
    if search_path is None:
        return url, args
    value = search_path if isinstance(search_path, str) else ",".join(search_path)
    settings = dict(args.get("server_settings") or {})
    settings.setdefault("search_path", value)
    return url.difference_update_query(["search_path"]), {**args, "server_settings": settings}


def _journal_mode(cursor: Any) -> str:
    cursor.execute("PRAGMA journal_mode")
    return str(cursor.fetchone()[0]).lower()


def _ensure_wal(cursor: Any) -> None:
    """Switch the file to WAL once (the mode is stored in the file).

    The switch needs an exclusive lock, and SQLite refuses it at once, without calling the busy
    handler, while another connection holds any lock (often: that connection is the one
    switching). So retry, re-reading the mode each time, until the busy timeout runs out.
    """
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            if _journal_mode(cursor) == "wal":
                return
            cursor.execute("PRAGMA journal_mode=WAL")
            # A refused switch may also just answer with the unchanged mode.
            if str(cursor.fetchone()[0]).lower() == "wal":
                return
            refusal = "the mode did not change"
        except sqlite3.OperationalError as exc:
            refusal = str(exc)
        if time.monotonic() >= deadline:
            raise sqlite3.OperationalError(f"could not switch to WAL mode: {refusal}")
        time.sleep(_WAL_RETRY_S)


def _install_sqlite_hooks(engine: AsyncEngine) -> None:
    sync_engine = engine.sync_engine

    @event.listens_for(sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
        # Take BEGIN away from the sqlite3 module (it skips it for SELECT and DDL).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
            _ensure_wal(cursor)
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
        finally:
            cursor.close()

    @event.listens_for(sync_engine, "begin")
    def _on_begin(conn: Connection) -> None:
        immediate = conn.get_execution_options().get(_WRITE_OPTION, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")
