"""Storage: SQL repositories (SQLite, PostgreSQL), migrations, and the usage journal.

- ``schema`` the Core tables; ``migrations`` Alembic, in code (``migrate``, ``current_revision``).
- ``db`` engines and transactions; ``repos`` the ``Store`` facade and ``open_store``.
- ``workspaces``, ``keys``, ``credentials``, ``prices``, ``usage``: one repository per concept,
  every query scoped by workspace, driver errors translated to ``tollgate.core.errors``.
- ``journal*`` the local usage journal and its batched writer.

Imports only ``tollgate.core``; never services, the gateway or routes.
"""
