"""Alembic environment for tollgate.

tollgate runs its migrations in code (``tollgate.store.migrations.migrate``), on a connection it
already holds inside a transaction; there is no ``alembic.ini`` and no URL here.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from tollgate.store.schema import metadata


def run_online() -> None:
    connection = context.config.attributes.get("connection")
    if not isinstance(connection, Connection):
        raise RuntimeError("run tollgate migrations through tollgate.store.migrations.migrate()")
    context.configure(connection=connection, target_metadata=metadata, compare_type=True)
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    raise RuntimeError("tollgate migrations run online only, through tollgate.store.migrations.migrate()")
run_online()
