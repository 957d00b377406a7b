"""What every repository shares: the engine, driver-error translation, the ``UNSET`` marker."""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any, Final, Literal

from sqlalchemy import Insert, Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from tollgate.core.errors import BadRequest, Conflict, NotFound, TollgateError

MAX_PAGE_SIZE: Final = 1000

Violation = Literal["unique", "foreign_key", "not_null", "other"]

_PG_STATES: Mapping[str, Violation] = MappingProxyType(
    {"23505": "unique", "23503": "foreign_key", "23502": "not_null"}
)
_SQLITE_NAMES: Mapping[str, Violation] = MappingProxyType(
    {
        "SQLITE_CONSTRAINT_UNIQUE": "unique",
        "SQLITE_CONSTRAINT_PRIMARYKEY": "unique",
        "SQLITE_CONSTRAINT_FOREIGNKEY": "foreign_key",
        "SQLITE_CONSTRAINT_NOTNULL": "not_null",
    }
)


class Unset(enum.Enum):
    """Marks an ``update`` argument the caller did not pass (``None`` can be a real value)."""

    UNSET = enum.auto()


UNSET: Final = Unset.UNSET


def violation(exc: IntegrityError) -> Violation:
    """Which kind of constraint a driver's integrity error broke, on SQLite or PostgreSQL."""
    orig = exc.orig
    state = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    if isinstance(state, str):
        return _PG_STATES.get(state, "other")
    name = getattr(orig, "sqlite_errorname", None)
    if isinstance(name, str) and name in _SQLITE_NAMES:
        return _SQLITE_NAMES[name]
    text = str(orig)
    if "UNIQUE constraint failed" in text:
        return "unique"
    if "FOREIGN KEY constraint failed" in text:
        return "foreign_key"
    return "other"


def translate_integrity(exc: IntegrityError, *, conflict: Conflict, workspace_id: str) -> TollgateError:
    """The tollgate error for a refused write: ``conflict`` for a duplicate, 404 for a missing workspace."""
    kind = violation(exc)
    if kind == "unique":
        return conflict
    if kind == "foreign_key":
        return NotFound(f"workspace {workspace_id} not found", code="workspace_not_found")
    return TollgateError(f"the database refused the write ({kind})", code="store_integrity_error")


def check_limit(limit: int) -> int:
    if not 1 <= limit <= MAX_PAGE_SIZE:
        raise BadRequest(f"limit must be between 1 and {MAX_PAGE_SIZE}", code="invalid_limit")
    return limit


def as_list(values: Sequence[str] | None) -> list[str] | None:
    return None if values is None else list(values)


def as_tuple(values: Sequence[str] | None) -> tuple[str, ...] | None:
    return None if values is None else tuple(values)


def as_dict(values: Mapping[str, Any] | None) -> dict[str, Any]:
    return dict(values or {})


def changes(**values: object) -> dict[str, object]:
    """The keyword arguments that were actually passed (not ``UNSET``)."""
    return {name: value for name, value in values.items() if value is not UNSET}


def insert_or_ignore(engine: AsyncEngine, table: Table, conflict: Sequence[str]) -> Insert:
    """``INSERT … ON CONFLICT (conflict) DO NOTHING`` in the engine's dialect."""
    if engine.dialect.name == "sqlite":
        return sqlite.insert(table).on_conflict_do_nothing(index_elements=list(conflict))
    return postgresql.insert(table).on_conflict_do_nothing(index_elements=list(conflict))


def insert_or_update(
    engine: AsyncEngine,
    table: Table,
    values: Mapping[str, Any],
    conflict: Sequence[str],
    update: Sequence[str],
) -> Insert:
    """``INSERT … ON CONFLICT (conflict) DO UPDATE`` setting ``update`` from the new row."""
    if engine.dialect.name == "sqlite":
        lite = sqlite.insert(table).values(dict(values))
        return lite.on_conflict_do_update(
            index_elements=list(conflict), set_={name: lite.excluded[name] for name in update}
        )
    pg = postgresql.insert(table).values(dict(values))
    return pg.on_conflict_do_update(
        index_elements=list(conflict), set_={name: pg.excluded[name] for name in update}
    )


class Repository:
    """A small async repository over one engine."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
