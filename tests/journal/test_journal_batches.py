"""``Journal.append_many``: a batch is journaled with one write, whole or not at all."""

from __future__ import annotations

import os

import pytest
from journal_support import FakeDatabase, make_record, segment_files

from tollgate.store.journal import JournalError


async def test_a_batch_is_one_write_and_every_record_reaches_the_sink_once_in_order(
    make_journal, db: FakeDatabase, monkeypatch: pytest.MonkeyPatch
):
    journal = make_journal()
    await journal.start()
    journal.append(make_record(0))
    real_write = os.write
    writes: list[int] = []

    def counted(fd: int, data: bytes) -> int:
        writes.append(len(data))
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", counted)
    journal.append_many([make_record(i) for i in range(1, 301)])
    journal.append_many([])
    monkeypatch.setattr(os, "write", real_write)
    assert len(writes) == 1
    journal.append(make_record(301))
    assert await journal.flush(timeout=5)
    assert [rid for batch in db.batches for rid in batch] == [make_record(i).id for i in range(302)]
    assert set(db.calls.values()) == {1}
    assert journal.lag().records == 0
    await journal.close()


async def test_a_failed_batch_write_leaves_nothing_behind(
    make_journal, db: FakeDatabase, monkeypatch: pytest.MonkeyPatch
):
    journal = make_journal()
    await journal.start()
    journal.append(make_record(0))
    real_write = os.write
    calls = 0

    def disk_fills_up(fd: int, data: bytes) -> int:  # most of the batch, then ENOSPC
        nonlocal calls
        calls += 1
        if calls == 1:
            return real_write(fd, bytes(data[: len(data) * 3 // 4]))
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "write", disk_fills_up)
    with pytest.raises(JournalError):
        journal.append_many([make_record(i) for i in range(1, 50)])
    monkeypatch.setattr(os, "write", real_write)
    journal.append_many([make_record(50), make_record(51)])
    assert await journal.flush(timeout=5)
    assert sorted(db.rows) == [make_record(i).id for i in (0, 50, 51)]
    assert journal.lag().quarantined == 0  # the cut-off bytes are gone, not quarantined
    await journal.close()


async def test_a_batch_that_would_overflow_the_segment_starts_a_new_one(
    make_journal, db: FakeDatabase, folder
):
    journal = make_journal(segment_bytes=2048)
    await journal.start()
    journal.append(make_record(0))
    journal.append_many([make_record(i) for i in range(1, 40)])  # larger than a segment: kept whole
    assert len(segment_files(folder)) == 2
    assert await journal.flush(timeout=5)
    assert len(db.rows) == 40
    await journal.close()


async def test_append_many_is_refused_when_the_journal_is_not_running(make_journal):
    journal = make_journal()
    with pytest.raises(JournalError):
        journal.append_many([make_record(0)])
