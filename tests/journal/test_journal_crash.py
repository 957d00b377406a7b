"""SIGKILL a worker process mid-flight: every record it reported as accepted reaches the database,
and a replay after the kill re-sends only what had not been checkpointed."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from collections import Counter, defaultdict
from collections.abc import Callable
from pathlib import Path

from journal_support import FakeDatabase, eventually, segment_files

from tollgate.core.clock import SystemClock
from tollgate.store import journal_format as fmt
from tollgate.store.journal import Journal

CHILD = Path(__file__).with_name("journal_child.py")


class Child:
    """A journal_child.py process whose stdout is read continuously (so it never blocks on a pipe)."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.ids: list[str] = []
        self.events: list[str] = []
        self._changed = asyncio.Event()
        self._reader = asyncio.create_task(self._read())

    @classmethod
    async def spawn(cls, tmp: Path, **opts: object) -> Child:
        stderr = os.open(tmp / f"child-{opts['tag']}.stderr", os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            proc = await asyncio.create_subprocess_exec(
                sys.executable, str(CHILD), json.dumps(opts), stdout=asyncio.subprocess.PIPE, stderr=stderr
            )
        finally:
            os.close(stderr)
        child = cls(proc)
        await child.wait_for(lambda: any(e.startswith("READY") for e in child.events))
        return child

    @property
    def pid(self) -> int:
        return self.proc.pid

    async def _read(self) -> None:
        assert self.proc.stdout is not None
        while line := await self.proc.stdout.readline():
            text = line.decode().rstrip("\n")
            if text.startswith("ID "):
                self.ids.append(text[3:])
            else:
                self.events.append(text)
            self._changed.set()
        self._changed.set()

    async def wait_for(self, predicate: Callable[[], bool], seconds: float = 10.0) -> None:
        async with asyncio.timeout(seconds):
            while not predicate():
                assert not self._reader.done(), f"the child ended early: {self.events}"
                self._changed.clear()
                await self._changed.wait()

    async def kill(self) -> None:
        os.kill(self.proc.pid, signal.SIGKILL)
        await self.finish()

    async def finish(self) -> None:
        async with asyncio.timeout(10):
            await self._reader  # what it printed before dying is still in the pipe
            await self.proc.wait()


def read_db_log(path: Path) -> list[tuple[str, int, str]]:
    if not path.exists():
        return []
    rows = []
    for line in path.read_text().splitlines():
        tag, call, record_id = line.split()
        rows.append((tag, int(call), record_id))
    return rows


async def replay(folder: Path) -> FakeDatabase:
    db = FakeDatabase()
    journal = Journal(folder, sink=db.insert_many, clock=SystemClock(), interval=0.01)
    await journal.start()
    assert await journal.flush(timeout=10)
    await journal.close()
    assert segment_files(folder) == []
    return db


async def test_every_reported_record_survives_sigkill(tmp_path: Path):
    folder = tmp_path / "journal"
    child = await Child.spawn(tmp_path, folder=str(folder), db=str(tmp_path / "db.log"), tag="w", sink="down")
    await child.wait_for(lambda: len(child.ids) >= 500)
    await child.kill()
    reported = set(child.ids)

    db = await replay(folder)
    assert reported <= set(db.rows)
    assert len(set(db.rows) - reported) <= 1  # appended, killed before it printed the id
    assert set(db.calls.values()) == {1}  # nothing had reached the database: each replayed once


async def test_a_kill_between_insert_and_checkpoint_replays_only_that_batch(tmp_path: Path):
    folder, db_log = tmp_path / "journal", tmp_path / "db.log"
    child = await Child.spawn(
        tmp_path, folder=str(folder), db=str(db_log), tag="w", slow_call=3, batch_size=50, burst=20
    )
    await child.wait_for(lambda: any(e.startswith("SINK 3 ") for e in child.events))
    stuck_at = len(child.ids)
    await child.wait_for(lambda: len(child.ids) >= stuck_at + 100)  # appends go on meanwhile
    await child.kill()
    reported = set(child.ids)

    before: dict[int, set[str]] = defaultdict(set)
    for _, call, record_id in read_db_log(db_log):
        before[call].add(record_id)
    assert sorted(before) == [1, 2, 3]
    db = await replay(folder)

    assert reported <= set(db.rows) | before[1] | before[2]
    assert set(db.calls.values()) == {1}  # the replay itself sends each record once
    assert before[3] <= set(db.rows)  # inserted but not checkpointed: replayed (the real sink ignores it)
    assert not (before[1] | before[2]) & set(db.rows)  # checkpointed: never replayed
    attempts = Counter(db.calls)
    for call_ids in before.values():
        attempts.update(call_ids)
    assert {i for i, n in attempts.items() if n > 1} == before[3]


async def test_a_surviving_worker_drains_the_journal_of_a_killed_one(tmp_path: Path):
    folder, db_log = tmp_path / "journal", tmp_path / "db.log"
    common = {"folder": str(folder), "db": str(db_log), "batch_size": 50}
    a = await Child.spawn(tmp_path, tag="a", slow_call=3, **common)  # dies inside its third insert
    b = await Child.spawn(tmp_path, tag="b", **common)
    await a.wait_for(lambda: any(e.startswith("SINK 3 ") for e in a.events))
    await a.wait_for(lambda: len(a.ids) >= 300)
    await b.wait_for(lambda: len(b.ids) >= 300)
    await a.kill()

    def a_files() -> list[Path]:
        return [p for p in segment_files(folder) if p.name.startswith(f"{fmt.SEGMENT_PREFIX}{a.pid}-")]

    assert a_files()
    await eventually(lambda: not a_files(), seconds=10)  # b adopted, drained and deleted them
    os.kill(b.pid, signal.SIGTERM)
    await b.finish()
    assert "CLOSED" in b.events

    inserts: dict[str, Counter[str]] = {"a": Counter(), "b": Counter()}  # record origin -> attempts
    by_a: dict[int, set[str]] = defaultdict(set)  # a's own insert calls
    by_b: set[str] = set()  # a's records that b inserted
    for writer, call, record_id in read_db_log(db_log):
        origin = record_id.split("_")[0]
        inserts[origin][record_id] += 1
        if origin == "a" and writer == "a":
            by_a[call].add(record_id)
        elif origin == "a":
            by_b.add(record_id)
    assert set(a.ids) <= set(inserts["a"])
    assert len(set(inserts["a"]) - set(a.ids)) <= 1  # appended, killed before it printed the id
    assert set(inserts["a"]) - by_a[1] - by_a[2] == by_b  # b moved everything a had not checkpointed
    assert {i for i, n in inserts["a"].items() if n > 1} == by_a[3]  # only a's unchecked batch twice
    assert set(inserts["b"]) == set(b.ids)  # b closed gracefully: exactly what it accepted, once
    assert set(inserts["b"].values()) == {1}
    assert segment_files(folder) == []
