"""The journal's writer: tails locked segments from their checkpoints and moves batches to the sink.

It keeps no queue of records: the segment files are the queue. A batch is consecutive lines of one
segment, so order is preserved within a file. For each batch: parse, hand the records to the sink
(retrying with backoff until it takes them), quarantine the lines that could not be parsed, then move
the checkpoint past the batch. A crash anywhere in that sequence replays the batch, which the
idempotent sink absorbs; nothing is skipped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from tollgate.core.clock import Clock
from tollgate.store import journal_format as fmt
from tollgate.store import journal_segments as segments
from tollgate.store.journal_segments import Segment
from tollgate.store.records import UsageRecord

logger = logging.getLogger("tollgate.store.journal")

Sink = Callable[[list[UsageRecord]], Awaitable[object]]


class RecordsRejected(Exception):
    """Raised by a sink for records the database can never take (bad data, not an outage).

    The journal quarantines those records (reason ``rejected``) and hands the rest of the batch to the
    sink again. With no ids ("something in this batch is bad"), the journal halves the batch until it
    has isolated the records the sink refuses: the natural fit for an all-or-nothing insert.

    Any other exception means "try again later": the whole batch is retried with backoff, forever. So
    a sink must raise this for a permanent refusal, or one bad record blocks every record after it.
    """

    def __init__(self, ids: Iterable[str], reason: str) -> None:
        super().__init__(reason)
        self.ids = frozenset(ids)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class _Entry:
    offset: int
    line: bytes
    record: UsageRecord


@dataclass(frozen=True, slots=True)
class WriterConfig:
    folder: Path
    sink: Sink
    clock: Clock
    fsync: bool
    batch_size: int
    interval: float
    max_backoff: float
    orphan_interval: float


# A usage record's journal line is 500 to 1,000 bytes: a whole batch of them never lingers.
_TYPICAL_RECORD_BYTES: Final = 512


class Writer:
    """Owns the list of held segments (adopted orphans first, then own ones, oldest first) and moves
    them to the sink. Everything runs on the event loop's thread; only fsync and line counting are
    sent to worker threads."""

    def __init__(self, config: WriterConfig) -> None:
        self.config = config
        self.segments: list[Segment] = []
        self.live: Segment | None = None  # the own segment appends go to; never deleted while live
        self.quarantined = 0
        self.dir_dirty = False
        self.wake = asyncio.Event()
        self.urgent = asyncio.Event()  # someone waits for the data to be moved: do not linger
        self.stop = asyncio.Event()
        self._progress = asyncio.Event()
        self._read_chunk = min(max(config.batch_size * 1024, 64 * 1024), 4 * 1024 * 1024)

    async def run(self) -> None:
        """The writer loop. It never ends on an error: a failed pass is logged and retried."""
        loop = asyncio.get_running_loop()
        interval = self.config.interval
        next_scan = loop.time() + self.config.orphan_interval
        failures = 0
        while not self.stop.is_set():
            self.wake.clear()
            self.urgent.clear()
            try:
                if loop.time() >= next_scan:
                    next_scan = loop.time() + self.config.orphan_interval
                    await self.adopt_orphans()
                progressed = await self._pass()
                failures = 0
            except Exception:
                failures = min(failures + 1, 20)  # the backoff is capped anyway
                logger.exception("the journal writer failed a pass; the data stays journaled")
                await wait_event(self.stop, min(interval * 2**failures, self.config.max_backoff))
                continue
            if progressed or await wait_event(self.wake, interval):
                await self._linger(interval)

    async def _linger(self, interval: float) -> None:
        """Before the next pass, give a small batch up to ``interval`` to fill, unless a flush or a
        stop is waiting or a whole batch is already there. One transaction then moves many records:
        at a hundred calls a second, a transaction per record or two (each with its rollup upserts)
        cost the process more CPU than the calls themselves."""
        if self.urgent.is_set() or self.stop.is_set():
            return
        if sum(seg.pending_bytes for seg in self.segments) >= self.config.batch_size * _TYPICAL_RECORD_BYTES:
            return
        await wait_event(self.urgent, interval)

    async def wait_moved(
        self, targets: list[tuple[Segment, int]], task: asyncio.Task[None], seconds: float | None
    ) -> bool:
        """Wait until each segment is committed up to its target offset (or gone)."""
        loop = asyncio.get_running_loop()
        deadline = None if seconds is None else loop.time() + seconds
        self.urgent.set()
        self.wake.set()
        while True:
            progress = self._progress
            if all(seg.closed or seg.committed >= end for seg, end in targets):
                return True
            if task.done():
                return False
            remaining = None if deadline is None else deadline - loop.time()
            if remaining is not None and remaining <= 0:
                return False
            await wait_event(progress, remaining)

    async def adopt_orphans(self) -> None:
        """Lock and queue every segment in the folder whose owner is gone."""
        held = {seg.path for seg in self.segments}
        for path in segments.orphan_candidates(self.config.folder, held):
            seg = segments.adopt_segment(path)
            if seg is None:
                continue
            try:
                seg.records = await asyncio.to_thread(segments.count_lines, seg.fd, seg.committed, seg.end)
            except BaseException:
                segments.release_segment(seg)
                raise
            self.segments.insert(sum(1 for s in self.segments if not s.own), seg)
            logger.info("adopted orphan journal %s (%d records to move)", path.name, seg.records)
        segments.sweep(self.config.folder)

    async def _pass(self) -> bool:
        if self.config.fsync:
            await self.sync()
        moved = False
        for seg in list(self.segments):
            if seg.pending_bytes:
                moved = await self._move_batch(seg) or moved
            if self.stop.is_set():
                break
            if not seg.pending_bytes and seg is not self.live and not seg.closed:
                segments.remove_segment(seg)
                self.segments.remove(seg)
                self._signal_progress()
        return moved

    async def _move_batch(self, seg: Segment) -> bool:
        """Move the next batch of ``seg``; False if nothing moved (no complete line yet, or stopped)."""
        start = seg.committed
        lines, consumed, data = self._read(seg)
        batch: list[_Entry] = []
        bad: list[tuple[int, bytes, str, str]] = []
        offset = start
        for line in lines:
            if line:  # an empty line (left by a failed write) holds nothing
                try:
                    batch.append(_Entry(offset, line, fmt.decode_record(line)))
                except fmt.CorruptLine as exc:
                    bad.append((offset, line, "corrupt", str(exc)))
            offset += len(line) + 1
        if not lines:
            if not seg.frozen:  # a live segment's tail is still being written: leave it
                return False
            bad.append((start, data, "torn", "the writer died before finishing this line"))
            consumed = seg.end - start  # the whole rest: its writer will never finish it
        if batch:
            seg.head_created_at = batch[0].record.created_at
            if not await self._deliver(seg, batch):
                return False
        for where, raw, reason, error in bad:
            self._quarantine(seg, where, raw, reason, error)
        seg.committed = start + consumed
        seg.records = max(0, seg.records - len(lines))
        if seg.committed >= seg.end:
            seg.records = 0
            seg.head_created_at = None
        elif batch:
            seg.head_created_at = batch[-1].record.created_at
        self.checkpoint(seg)
        self._signal_progress()
        return True

    def _read(self, seg: Segment) -> tuple[list[bytes], int, bytes]:
        """Complete lines from the committed offset: up to ``end`` for a frozen segment (then the rest
        of the data is its tail), up to whatever the file holds for a live one."""
        start = seg.committed
        stop = seg.end if seg.frozen else max(seg.end, os.fstat(seg.fd).st_size)
        avail = stop - start
        size = min(avail, self._read_chunk)
        while True:
            data = os.pread(seg.fd, size, start)
            lines, consumed = fmt.split_lines(data, self.config.batch_size)
            if lines or size >= avail or len(data) < size:
                return lines, consumed, data
            size = min(avail, size * 2)  # one line longer than the chunk

    async def _deliver(self, seg: Segment, batch: list[_Entry]) -> bool:
        """Hand the batch to the sink until it takes it; False if the journal stopped first."""
        delay = self.config.interval
        attempt = 0
        while batch:
            try:
                await self.config.sink([entry.record for entry in batch])
                return True
            except RecordsRejected as exc:
                if any(entry.record.id in exc.ids for entry in batch):
                    batch = self._reject(seg, batch, exc)
                    continue
                if not exc.ids:  # "something in here is bad": find it by halving
                    return await self._bisect(seg, batch, exc)
                logger.warning("usage sink rejected records that are not in the batch: %s", exc.reason)
            except Exception as exc:
                logger.warning(
                    "usage sink failed (attempt %d); %d records stay journaled: %s: %s",
                    attempt + 1,
                    len(batch),
                    type(exc).__name__,
                    exc,
                )
            attempt += 1
            if await wait_event(self.stop, delay):
                return False
            delay = min(delay * 2, self.config.max_backoff)
            if self.config.fsync:  # a long outage must not leave new appends unsynced
                await self.sync()
        return True

    async def _bisect(self, seg: Segment, batch: list[_Entry], exc: RecordsRejected) -> bool:
        if len(batch) == 1:
            self._reject(seg, batch, RecordsRejected([batch[0].record.id], exc.reason))
            return True
        middle = len(batch) // 2
        # A half that went in before a later one stops is replayed, harmlessly (idempotent sink).
        return await self._deliver(seg, batch[:middle]) and await self._deliver(seg, batch[middle:])

    def _reject(self, seg: Segment, batch: list[_Entry], exc: RecordsRejected) -> list[_Entry]:
        for entry in batch:
            if entry.record.id in exc.ids:
                self._quarantine(seg, entry.offset, entry.line, "rejected", exc.reason)
        return [entry for entry in batch if entry.record.id not in exc.ids]

    def checkpoint(self, seg: Segment) -> None:
        if seg.closed or seg.committed == 0:
            return
        try:
            fmt.write_checkpoint(seg.path, seg.committed)
        except OSError as exc:  # the in-memory offset is right; a stale file only means more replay
            logger.warning("could not write the journal checkpoint of %s: %s", seg.path.name, exc)

    def _quarantine(self, seg: Segment, offset: int, raw: bytes, reason: str, error: str) -> None:
        entry = fmt.quarantine_entry(
            at=self.config.clock.now(),
            source=seg.path.name,
            offset=offset,
            reason=reason,
            error=error,
            raw=raw,
        )
        path = self.config.folder / fmt.QUARANTINE_NAME
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            os.write(fd, entry)
            if self.config.fsync:
                os.fsync(fd)
        finally:
            os.close(fd)
        self.quarantined += 1
        logger.error("quarantined a %s journal line from %s at offset %d", reason, seg.path.name, offset)

    async def sync(self) -> None:
        """fsync own segments written since the last sync, and the folder if a segment was created."""
        for seg in list(self.segments):
            if seg.own and not seg.closed and seg.written > seg.synced:
                target = seg.written
                await asyncio.to_thread(os.fsync, seg.fd)
                seg.synced = target
        if self.dir_dirty:
            self.dir_dirty = False
            await asyncio.to_thread(_fsync_dir, self.config.folder)

    def _signal_progress(self) -> None:
        progress, self._progress = self._progress, asyncio.Event()
        progress.set()


async def wait_event(event: asyncio.Event, seconds: float | None) -> bool:
    """Wait for ``event`` at most ``seconds``; whether it is set."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            await event.wait()
    return event.is_set()


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
