from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from journal_support import BASE_TIME, FakeDatabase

from tollgate.core.clock import FakeClock
from tollgate.store.journal import Journal

FAST: dict[str, Any] = {"interval": 0.01, "max_backoff": 0.05, "orphan_interval": 0.05}


@pytest.fixture
def db() -> FakeDatabase:
    return FakeDatabase()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(BASE_TIME)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    return tmp_path / "journal"


@pytest.fixture
def make_journal(folder: Path, db: FakeDatabase, clock: FakeClock) -> Callable[..., Journal]:
    def make(**overrides: Any) -> Journal:
        options = {**FAST, **overrides}
        return Journal(options.pop("folder", folder), sink=db.insert_many, clock=clock, **options)

    return make
