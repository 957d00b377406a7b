"""Schema migrations (Alembic), configured in code and shipped inside the package.

``migrate`` is idempotent and safe to call on every start, from any number of processes at once:
on PostgreSQL a transaction-scoped advisory lock serialises concurrent callers, on SQLite the
write transaction does. The whole upgrade is one transaction: it applies fully or not at all.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from tollgate.store.db import write_transaction

# Any fixed 64-bit number: the advisory lock that serialises concurrent migrations.
_PG_LOCK_KEY = 0x7467_6D69_6772  # "tgmigr"


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic config pointing at the migrations folder inside the installed package."""
    config = Config()
    location = str(Path(__file__).resolve().parent).replace("%", "%%")
    config.set_main_option("script_location", location)
    config.set_main_option("path_separator", "os")
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str | None:
    """The newest revision this version of tollgate knows."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


async def current_revision(engine: AsyncEngine) -> str | None:
    """The revision the database is at; None before the first migration."""
    async with engine.connect() as conn:
        return await conn.run_sync(_current)


async def is_up_to_date(engine: AsyncEngine) -> bool:
    """True when the database is at this code's head revision (for ``/ready``)."""
    return await current_revision(engine) == head_revision()


async def migrate(engine: AsyncEngine) -> None:
    """Upgrade the database to the head revision; a no-op when it is already there."""
    async with write_transaction(engine) as conn:
        if conn.dialect.name == "postgresql":
            await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})
        await conn.run_sync(_upgrade)


def _current(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def _upgrade(connection: Connection) -> None:
    command.upgrade(alembic_config(connection), "head")
