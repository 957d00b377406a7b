"""The usage journal: a usage log that loses nothing (DESIGN principle 6).

``append`` writes one complete JSON line to this process's own segment file with a single
``os.write`` on an ``O_APPEND`` descriptor. When it returns, the line is in the kernel's page cache,
so it survives a SIGKILL of the process (not a power loss; see ``fsync`` below). A background writer
tails the segment files from their committed offsets and moves batches to the ``sink`` (the store's
``insert_many``). There is no in-memory queue to overflow: under pressure the files grow, and
``lag()`` says by how much.

Guarantees and what each rests on:

- *Nothing accepted is lost.* A record is accepted when ``append`` returns; its bytes are then in a
  file that is only deleted after its checkpoint covers them, and a checkpoint only moves past lines
  the sink has taken (or the quarantine holds). A process that dies leaves its files locked by
  nobody; any journal on the folder (at ``start`` and every ``orphan_interval``) locks and drains them.
- *No duplicates.* The checkpoint is written after the sink returns, so a crash in between replays
  that batch. The sink must be idempotent on record id (insert-or-ignore, and rollups only for rows
  actually inserted); then a replay creates no duplicate rows. Only batches moved but not yet
  checkpointed are replayed, never a whole file.
- *One drainer per file.* Every segment is ``flock``-ed by the process that owns or drains it (see
  ``journal_segments``); a process keeps the lock on its rotated segments until they are deleted.
- *Never silent.* A line that cannot be parsed, and the torn tail of a dead process's segment (an
  ``append`` that never returned), go to ``quarantine.jsonl`` with their origin and are counted in
  ``lag().quarantined``; the lines after them still move. A failing sink is retried with backoff,
  forever, and the writer never skips a batch. A sink that can tell bad data from an outage raises
  ``RecordsRejected`` for the records the database will never take: those are quarantined too.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import TracebackType

from tollgate.core.clock import Clock
from tollgate.core.errors import TollgateError
from tollgate.store import journal_format as fmt
from tollgate.store import journal_segments as segments
from tollgate.store.journal_segments import Segment
from tollgate.store.journal_writer import RecordsRejected, Sink, Writer, WriterConfig
from tollgate.store.records import UsageRecord

logger = logging.getLogger(__name__)

__all__ = ["Journal", "JournalError", "JournalLag", "RecordsRejected", "Sink"]


class JournalError(TollgateError):
    """The journal could not take a record (disk full, I/O error, closed): it was NOT accepted."""

    status = 503
    default_code = "journal_unavailable"


@dataclass(frozen=True, slots=True)
class JournalLag:
    """What this process has journaled (or adopted from dead processes) but not yet moved."""

    records: int
    bytes: int
    oldest_age_seconds: float | None  # approximate: from the created_at of the head of the queue
    quarantined: int  # lines this journal moved to quarantine since it started


class Journal:
    """Append-only usage journal in ``folder`` with a batched background writer into ``sink``.

    ``append`` must be called on the event loop's thread (it is synchronous and not thread-safe).
    Do not fork after ``start``: a child would share the segment locks.

    ``fsync=False`` (default): records survive the death of the process, not of the machine.
    ``fsync=True``: the writer fsyncs this process's segments in batches (each wake, and between sink
    retries) and the folder after a segment is created. After a power loss or kernel crash, records
    appended up to about one ``interval`` before it may still be lost; older ones are on disk. It does
    not make ``append`` itself durable against power loss (that would need an fsync per record).
    """

    def __init__(
        self,
        folder: Path,
        *,
        sink: Sink,
        clock: Clock,
        fsync: bool = False,
        batch_size: int = 500,
        interval: float = 0.05,
        segment_bytes: int = 64 * 1024 * 1024,
        max_backoff: float = 5.0,
        orphan_interval: float = 1.0,
    ) -> None:
        if batch_size < 1 or interval <= 0 or segment_bytes < 1 or orphan_interval <= 0:
            raise ValueError("batch_size, interval, segment_bytes and orphan_interval must be positive")
        self._clock = clock
        self._segment_bytes = segment_bytes
        self._writer = Writer(
            WriterConfig(
                folder=folder,
                sink=sink,
                clock=clock,
                fsync=fsync,
                batch_size=batch_size,
                interval=interval,
                max_backoff=max(max_backoff, interval),
                orphan_interval=orphan_interval,
            )
        )
        self._token = secrets.token_hex(4)
        self._seq = 0
        self._task: asyncio.Task[None] | None = None
        self._closing = False

    @property
    def folder(self) -> Path:
        return self._writer.config.folder

    async def start(self) -> None:
        """Create and lock this process's segment, adopt orphans, and start the writer."""
        if self._task is not None or self._closing:
            raise RuntimeError("a journal starts once")
        self.folder.mkdir(parents=True, exist_ok=True)
        try:
            self._writer.live = self._new_segment()
            await self._writer.adopt_orphans()
        except BaseException:
            for seg in self._writer.segments:
                segments.release_segment(seg)
            self._writer.segments.clear()
            self._writer.live = None
            raise
        self._task = asyncio.create_task(self._writer.run(), name="tollgate-journal-writer")

    def append(self, record: UsageRecord) -> None:
        """Journal one record; when this returns the record survives a SIGKILL of this process.

        Raises ``JournalError`` if the record could not be written (then it was not accepted), and
        orjson's ``TypeError`` if the record holds something JSON cannot represent.
        """
        self._append(fmt.encode_record(record), 1, record.created_at)

    def append_many(self, records: Sequence[UsageRecord]) -> None:
        """Journal a batch with one ``os.write``: all of it or (while this process lives) none of it.

        When this returns, every record survives a SIGKILL of this process. Only a SIGKILL in the
        middle of the write itself can leave the batch's first lines journaled, as for any
        ``append`` that never returned: callers that need exactly-once give records stable ids.
        """
        if records:
            data = b"".join([fmt.encode_record(record) for record in records])
            self._append(data, len(records), records[0].created_at)

    def _append(self, data: bytes, count: int, created_at: datetime) -> None:
        live = self._writer.live
        if live is None or self._closing:
            raise JournalError("the usage journal is not running")
        if live.written > 0 and live.written + len(data) > self._segment_bytes:
            live = self._rotate(live)
        _write_lines(live, data, count)
        if live.head_created_at is None:
            live.head_created_at = created_at
        self._writer.wake.set()

    async def flush(self, timeout: float | None = None) -> bool:  # noqa: ASYNC109 -- False, not raise
        """Wait until every record appended (or adopted) so far is in the sink; False on timeout."""
        if self._task is None:
            raise RuntimeError("the journal is not started")
        targets = [(seg, seg.end) for seg in self._writer.segments]
        return await self._writer.wait_moved(targets, self._task, timeout)

    async def close(self, flush_timeout: float | None = 5.0) -> None:
        """Flush (up to ``flush_timeout``), stop the writer, delete fully moved segments, release the
        rest: whatever could not be moved in time stays journaled for the next journal on the folder."""
        if self._closing:
            return
        self._closing = True
        writer, task = self._writer, self._task
        if task is not None:
            await self.flush(flush_timeout)
            writer.stop.set()
            writer.wake.set()
            done, _ = await asyncio.wait({task}, timeout=max(writer.config.interval, 1.0))
            if not done:  # stuck in a sink call: its batch stays journaled and will be replayed
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        for seg in writer.segments:
            if seg.committed >= max(seg.end, seg.written):
                segments.remove_segment(seg)
            else:
                writer.checkpoint(seg)
                segments.release_segment(seg)
        writer.segments.clear()
        writer.live = None

    async def __aenter__(self) -> Journal:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    def lag(self) -> JournalLag:
        """Records and bytes journaled but not yet moved: own segments plus adopted orphans."""
        held = [seg for seg in self._writer.segments if not seg.closed]
        heads = [s.head_created_at for s in held if s.head_created_at is not None and s.pending_bytes]
        age = max(0.0, (self._clock.now() - min(heads)).total_seconds()) if heads else None
        return JournalLag(
            records=sum(seg.records for seg in held),
            bytes=sum(seg.pending_bytes for seg in held),
            oldest_age_seconds=age,
            quarantined=self._writer.quarantined,
        )

    def _new_segment(self) -> Segment:
        self._seq += 1
        seg = segments.create_segment(self.folder, os.getpid(), self._token, self._seq)
        self._writer.segments.append(seg)
        self._writer.dir_dirty = True
        return seg

    def _rotate(self, old: Segment) -> Segment:
        try:
            new = self._new_segment()
        except OSError as exc:
            logger.warning("could not start a new journal segment, the current one keeps growing: %s", exc)
            return old
        old.frozen = True  # a torn fragment at its tail is now quarantined, not waited for
        old.end = old.written
        self._writer.live = new
        return new


def _write_lines(seg: Segment, data: bytes, count: int) -> None:
    """``count`` complete lines in one write, or none: what a failed write left is cut off again.

    Safe because the writer reads this segment only on the event loop's thread, between appends,
    and no other process may touch a segment this one holds the lock on. If even the cut fails, the
    next write first terminates the fragment, so it becomes one corrupt line (quarantined) instead
    of corrupting the record written after it.
    """
    start = seg.written
    prefix = b"\n" if seg.needs_newline else b""
    view = memoryview(prefix + data)
    done = 0
    try:
        while done < len(view):
            done += os.write(seg.fd, view[done:])
    except OSError as exc:
        try:
            os.ftruncate(seg.fd, start)
        except OSError:
            _after_failed_write(seg, start + done)
        raise JournalError("the usage journal could not write the record(s)") from exc
    seg.written = start + done
    seg.records += count
    seg.needs_newline = False
    seg.end = seg.written


def _after_failed_write(seg: Segment, expected: int) -> None:
    """Learn from the file itself what a failed write left behind (the kernel knows best)."""
    try:
        size = os.fstat(seg.fd).st_size
        seg.needs_newline = size > 0 and os.pread(seg.fd, 1, size - 1) != b"\n"
        seg.written = size
    except OSError:
        seg.needs_newline = seg.needs_newline or expected > seg.written
        seg.written = expected
