"""Shared by the journal tests and the child process they kill: records and a fake database."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tollgate.store import journal_format as fmt
from tollgate.store.journal import RecordsRejected
from tollgate.store.records import UsageRecord

BASE_TIME = datetime(2026, 1, 1, tzinfo=UTC)


def make_record(i: int, prefix: str = "req") -> UsageRecord:
    return UsageRecord(
        id=f"{prefix}_{i:08d}",
        workspace_id="ws_test",
        key_id="key_1",
        created_at=BASE_TIME + timedelta(milliseconds=i),
        provider="openai",
        model="gpt-4o-mini",
        upstream_model="gpt-4o-mini-2024-07-18",
        operation="chat",
        door="openai",
        stream=i % 2 == 0,
        status="success",
        http_status=200,
        input_tokens=100 + i,
        output_tokens=20,
        cost_nanos=1234 * i,
        price_source="genai-prices",
        latency_ms=42,
        route_name="checkout",
        metadata={"team": "growth", "n": i, "note": "line\nbreak \u2603"},
    )


class FakeDatabase:
    """A test double of the store's idempotent ``insert_many``.

    ``rows`` is what an idempotent table would hold; ``calls`` counts every insert attempt per id, so
    a replay shows up even though it creates no duplicate row. ``fail(n)`` makes the next n calls
    raise; ids in ``poison`` are refused for good (``RecordsRejected``); ``hold()`` makes calls wait
    until ``release()``.
    """

    def __init__(self) -> None:
        self.rows: dict[str, UsageRecord] = {}
        self.calls: Counter[str] = Counter()
        self.batches: list[list[str]] = []
        self.failures = 0
        self.poison: set[str] = set()  # ids the database refuses for good (bad data)
        self.names_poison = True  # False: refuse the whole batch without saying which record
        self._fail_next = 0
        self._open = asyncio.Event()
        self._open.set()

    def fail(self, times: int) -> None:
        self._fail_next = times

    def hold(self) -> None:
        self._open.clear()

    def release(self) -> None:
        self._open.set()

    async def insert_many(self, records: list[UsageRecord]) -> int:
        await self._open.wait()
        if self._fail_next:
            self._fail_next -= 1
            self.failures += 1
            raise ConnectionError("database is down")
        refused = {r.id for r in records} & self.poison
        if refused:
            raise RecordsRejected(refused if self.names_poison else (), "value out of range")
        self.batches.append([r.id for r in records])
        inserted = 0
        for record in records:
            self.calls[record.id] += 1
            if record.id not in self.rows:
                self.rows[record.id] = record
                inserted += 1
        return inserted


def segment_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if fmt.is_segment_name(p.name))


def folder_names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


async def eventually(predicate: Callable[[], bool], seconds: float = 5.0, step: float = 0.005) -> None:
    """Poll until ``predicate`` holds; fail the test after ``seconds``."""
    for _ in range(int(seconds / step)):
        if predicate():
            return
        await asyncio.sleep(step)
    raise AssertionError(f"still false after {seconds}s")
