"""The journal in one process: appends reach the database once, in order, through failures."""

from __future__ import annotations

import asyncio
import base64
import os
from pathlib import Path

import orjson
import pytest
from journal_support import FakeDatabase, eventually, folder_names, make_record, segment_files

from tollgate.core.clock import FakeClock
from tollgate.store import journal_format as fmt
from tollgate.store.journal import Journal, JournalError


async def test_every_record_reaches_the_sink_once_in_order(make_journal, db: FakeDatabase, folder: Path):
    journal = make_journal(batch_size=64)
    await journal.start()
    records = [make_record(i) for i in range(1000)]
    for n, record in enumerate(records):
        journal.append(record)
        if n % 97 == 0:
            await asyncio.sleep(0)  # let the writer take partial batches
    assert await journal.flush(timeout=5)

    assert db.rows == {r.id: r for r in records}
    assert set(db.calls.values()) == {1}
    delivered = [i for batch in db.batches for i in batch]
    assert delivered == [r.id for r in records]  # one file: order kept
    assert max(len(b) for b in db.batches) <= 64
    assert journal.lag().records == 0 and journal.lag().bytes == 0
    await journal.close()
    assert segment_files(folder) == []  # a fully moved journal leaves nothing behind


async def test_a_failing_database_loses_nothing_and_lag_grows_then_drains(
    make_journal, db: FakeDatabase, clock: FakeClock
):
    journal = make_journal()
    await journal.start()
    db.fail(10**6)
    for i in range(50):
        journal.append(make_record(i))
    await eventually(lambda: db.failures >= 3)
    first = journal.lag()
    assert first.records == 50 and first.bytes > 0
    for i in range(50, 120):
        journal.append(make_record(i))
    clock.advance(30)
    grown = journal.lag()
    assert grown.records == 120 and grown.bytes > first.bytes
    assert grown.oldest_age_seconds is not None and grown.oldest_age_seconds >= 30
    assert not await journal.flush(timeout=0.1)  # the database is still down

    db.fail(0)
    assert await journal.flush(timeout=5)
    assert sorted(db.rows) == [make_record(i).id for i in range(120)]
    assert set(db.calls.values()) == {1}
    assert journal.lag().records == 0 and journal.lag().bytes == 0
    assert journal.lag().oldest_age_seconds is None
    await journal.close()


@pytest.mark.parametrize("names_poison", [True, False])
async def test_records_the_database_refuses_for_good_are_quarantined_not_retried_forever(
    make_journal, db: FakeDatabase, folder: Path, names_poison: bool
):
    journal = make_journal(batch_size=50)
    await journal.start()
    db.poison = {make_record(3).id, make_record(37).id}
    db.names_poison = names_poison  # False: all-or-nothing insert, the journal must find them itself
    for i in range(40):
        journal.append(make_record(i))
    assert await journal.flush(timeout=5)
    assert sorted(db.rows) == [make_record(i).id for i in range(40) if i not in (3, 37)]
    assert journal.lag().quarantined == 2
    entries = [orjson.loads(x) for x in (folder / fmt.QUARANTINE_NAME).read_bytes().splitlines()]
    assert [e["reason"] for e in entries] == ["rejected", "rejected"]
    assert {fmt.decode_record(base64.b64decode(e["line_b64"])).id for e in entries} == db.poison
    await journal.close()


async def test_close_with_the_database_down_keeps_the_records_for_the_next_start(
    make_journal, db: FakeDatabase, folder: Path
):
    first = make_journal()
    await first.start()
    db.hold()  # a sink call that never returns
    for i in range(30):
        first.append(make_record(i))
    await first.close(flush_timeout=0.1)
    assert len(segment_files(folder)) == 1
    assert db.rows == {}

    db.release()
    second = make_journal()
    await second.start()
    assert await second.flush(timeout=5)
    assert sorted(db.rows) == [make_record(i).id for i in range(30)]
    await second.close()
    assert segment_files(folder) == []


async def test_segments_rotate_and_are_deleted_once_moved(make_journal, db: FakeDatabase, folder: Path):
    limit = 3 * len(fmt.encode_record(make_record(29)))
    journal = make_journal(segment_bytes=limit, batch_size=2)
    await journal.start()
    db.fail(10**6)
    for i in range(30):
        journal.append(make_record(i))
    files = segment_files(folder)
    assert len(files) == 10  # three records per segment
    assert all(f.stat().st_size <= limit for f in files)
    lag = journal.lag()
    assert lag.records == 30
    assert lag.bytes == sum(f.stat().st_size for f in files)

    db.fail(0)
    assert await journal.flush(timeout=5)
    assert len(db.rows) == 30
    await eventually(lambda: len(segment_files(folder)) == 1)  # only the live segment is kept
    assert journal.lag().bytes == 0
    await journal.close()
    assert segment_files(folder) == []
    assert not any(name.endswith(fmt.CHECKPOINT_SUFFIX) for name in folder_names(folder))


async def test_two_journals_in_one_folder_never_take_each_others_files(
    folder: Path, db: FakeDatabase, clock: FakeClock
):
    a = Journal(folder, sink=db.insert_many, clock=clock, interval=0.01, orphan_interval=0.01)
    b = Journal(folder, sink=db.insert_many, clock=clock, interval=0.01, orphan_interval=0.01)
    await a.start()
    await b.start()
    for i in range(200):
        a.append(make_record(i, "a"))
        b.append(make_record(i, "b"))
        if i % 20 == 0:
            await asyncio.sleep(0.02)  # several orphan scans happen meanwhile
    assert await a.flush(timeout=5) and await b.flush(timeout=5)
    assert len(db.rows) == 400
    assert set(db.calls.values()) == {1}
    await a.close()
    await b.close()


async def test_a_failed_write_is_refused_and_does_not_corrupt_the_next_record(
    make_journal, db: FakeDatabase, folder: Path, monkeypatch: pytest.MonkeyPatch
):
    journal = make_journal()
    await journal.start()
    journal.append(make_record(0))
    real_write = os.write
    calls = 0

    def disk_fills_up(fd: int, data: bytes) -> int:  # a short write, then ENOSPC
        nonlocal calls
        calls += 1
        if calls == 1:
            return real_write(fd, bytes(data[: len(data) // 2]))
        monkeypatch.setattr(os, "write", real_write)
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "write", disk_fills_up)
    with pytest.raises(JournalError):
        journal.append(make_record(1))
    journal.append(make_record(2))
    assert await journal.flush(timeout=5)
    assert sorted(db.rows) == [make_record(0).id, make_record(2).id]
    assert journal.lag().quarantined == 0  # the refused record's fragment was cut off again
    await journal.close()


async def test_append_is_refused_when_the_journal_is_not_running(make_journal):
    journal = make_journal()
    with pytest.raises(JournalError):
        journal.append(make_record(0))
    await journal.start()
    await journal.close()
    with pytest.raises(JournalError):
        journal.append(make_record(1))


async def test_fsync_policy_moves_everything(make_journal, db: FakeDatabase):
    journal = make_journal(fsync=True, segment_bytes=4096)
    await journal.start()
    db.fail(2)
    for i in range(40):
        journal.append(make_record(i))
    assert await journal.flush(timeout=5)
    assert len(db.rows) == 40
    await journal.close()
