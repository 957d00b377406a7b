"""What a journal finds in its folder after others died: orphans, torn tails, corruption, checkpoints."""

from __future__ import annotations

import asyncio
import base64
import os
from pathlib import Path

import orjson
from journal_support import FakeDatabase, eventually, folder_names, make_record, segment_files

from tollgate.core.clock import SystemClock
from tollgate.store import journal_format as fmt
from tollgate.store import journal_segments as segments
from tollgate.store.journal import Journal, JournalLag

DEAD = fmt.segment_name(999_999, "deadbeef", 1)


def lines(*numbers: int) -> bytes:
    return b"".join(fmt.encode_record(make_record(n)) for n in numbers)


def write_orphan(folder: Path, data: bytes, name: str = DEAD) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(data)
    return path


def quarantine_entries(folder: Path) -> list[dict[str, object]]:
    return [orjson.loads(x) for x in (folder / fmt.QUARANTINE_NAME).read_bytes().splitlines()]


async def test_corrupt_and_torn_lines_are_quarantined_and_the_rest_moves(
    make_journal, db: FakeDatabase, folder: Path
):
    corrupt = b'{"id": "req_x", "broken'
    wrong_shape = b'{"id": "req_y"}'
    torn = fmt.encode_record(make_record(9))[:100]
    orphan = write_orphan(
        folder, lines(0, 1) + corrupt + b"\n" + lines(2) + wrong_shape + b"\n" + lines(3) + torn
    )

    journal = make_journal(batch_size=2)
    await journal.start()
    assert journal.lag().records == 6  # complete lines waiting, good or not
    assert await journal.flush(timeout=5)

    assert [i for batch in db.batches for i in batch] == [make_record(n).id for n in range(4)]
    assert journal.lag().quarantined == 3
    entries = quarantine_entries(folder)
    assert [e["reason"] for e in entries] == ["corrupt", "corrupt", "torn"]
    assert [base64.b64decode(str(e["line_b64"])) for e in entries] == [corrupt, wrong_shape, torn]
    assert {e["source"] for e in entries} == {DEAD}
    assert not orphan.exists()
    assert not fmt.checkpoint_path(orphan).exists()
    await journal.close()


async def test_a_corrupt_line_in_a_live_segment_does_not_block_later_records(
    make_journal, db: FakeDatabase, folder: Path
):
    journal = make_journal()
    await journal.start()
    journal.append(make_record(0))
    [own] = segment_files(folder)
    fd = os.open(own, os.O_WRONLY | os.O_APPEND)
    os.write(fd, b"\x00\xffgarbage\n")
    os.close(fd)
    journal.append(make_record(1))  # its end offset now covers the garbage too
    assert await journal.flush(timeout=5)
    assert sorted(db.rows) == [make_record(0).id, make_record(1).id]
    assert journal.lag().quarantined == 1
    await journal.close()


async def test_a_checkpointed_orphan_resumes_after_its_checkpoint(
    make_journal, db: FakeDatabase, folder: Path
):
    data = lines(0, 1, 2, 3)
    orphan = write_orphan(folder, data)
    fmt.write_checkpoint(orphan, len(lines(0, 1)))
    journal = make_journal()
    await journal.start()
    assert journal.lag().records == 2
    assert await journal.flush(timeout=5)
    assert sorted(db.rows) == [make_record(2).id, make_record(3).id]
    await journal.close()


async def test_an_untrustworthy_checkpoint_replays_from_the_start(
    make_journal, db: FakeDatabase, folder: Path
):
    for n, offset in enumerate((len(lines(0)) + 5, 10**9)):  # mid-line; past the end
        orphan = write_orphan(folder, lines(0, 1), fmt.segment_name(999_999, "deadbeef", n + 1))
        fmt.checkpoint_path(orphan).write_bytes(orjson.dumps({"offset": offset}))
    (folder / (fmt.segment_name(999_999, "deadbeef", 9) + fmt.CHECKPOINT_SUFFIX)).write_bytes(b"junk")
    journal = make_journal()
    await journal.start()
    assert await journal.flush(timeout=5)
    assert db.calls == {make_record(0).id: 2, make_record(1).id: 2}  # replayed, nothing skipped
    # the checkpoint without a segment was swept
    assert folder_names(folder) == [p.name for p in segment_files(folder)]
    await journal.close()


async def test_a_file_locked_by_a_live_owner_is_never_adopted(make_journal, db: FakeDatabase, folder: Path):
    os.makedirs(folder)
    owner = segments.create_segment(folder, os.getpid(), "c0ffee00", 1)
    os.write(owner.fd, lines(0))
    assert segments.adopt_segment(owner.path) is None
    journal = make_journal()
    await journal.start()
    await asyncio.sleep(0.2)  # several orphan scans
    assert db.rows == {}
    segments.release_segment(owner)  # the owner dies
    await eventually(lambda: make_record(0).id in db.rows)
    await journal.close()
    assert not owner.path.exists()


async def test_a_drained_orphan_cannot_be_adopted_again(folder: Path):
    orphan = write_orphan(folder, lines(0))
    first = segments.adopt_segment(orphan)
    assert first is not None
    fd = os.open(orphan, os.O_RDONLY)  # a second scanner opened it before it was deleted
    segments.remove_segment(first)
    assert segments.adopt_segment(orphan) is None
    os.close(fd)


async def test_journals_of_dead_workers_are_drained_by_one_journal_only(folder: Path):
    for n in range(6):
        write_orphan(folder, lines(*range(n * 50, n * 50 + 50)), fmt.segment_name(999_000 + n, "deadbeef", 1))
    db = FakeDatabase()
    journals = [
        Journal(folder, sink=db.insert_many, clock=SystemClock(), interval=0.01, orphan_interval=0.01)
        for _ in range(3)
    ]
    await asyncio.gather(*(j.start() for j in journals))
    assert all(await asyncio.gather(*(j.flush(timeout=5) for j in journals)))
    assert len(db.rows) == 300
    assert set(db.calls.values()) == {1}
    await asyncio.gather(*(j.close() for j in journals))
    assert folder_names(folder) == []


async def test_the_writer_survives_its_own_io_errors_and_skips_nothing(
    make_journal, db: FakeDatabase, folder: Path
):
    write_orphan(folder, lines(0) + b"not json\n" + lines(1))
    os.mkdir(folder / fmt.QUARANTINE_NAME)  # the quarantine cannot be written: every pass fails
    journal = make_journal()
    await journal.start()
    assert not await journal.flush(timeout=0.3)
    assert journal.lag().records == 3  # the checkpoint does not pass a line it could not quarantine
    os.rmdir(folder / fmt.QUARANTINE_NAME)
    assert await journal.flush(timeout=5)
    assert sorted(db.rows) == [make_record(0).id, make_record(1).id]
    assert journal.lag() == JournalLag(records=0, bytes=0, oldest_age_seconds=None, quarantined=1)
    assert base64.b64decode(quarantine_entries(folder)[0]["line_b64"]) == b"not json"
    await journal.close()
