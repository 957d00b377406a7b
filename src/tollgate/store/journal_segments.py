"""Journal segment files: creating, locking, adopting and removing them.

Ownership rests on ``fcntl.flock(LOCK_EX)``: whoever holds a segment's lock is the only process that
appends to it, reads it for the database, checkpoints it or deletes it. The kernel drops the lock when
the holder's last descriptor closes, so a SIGKILL-ed process leaves its segments lockable ("orphans").
flock locks belong to an open file description, so two ``Journal`` objects in one process exclude each
other exactly like two processes do. Local filesystems only (flock is not reliable over NFS).

Two races are closed here:

- *Birth*: a segment is created under a name the orphan scan ignores, locked, and only then renamed
  into place, so no scanner can lock (and delete) a segment between its creation and its locking.
- *Death*: a scanner that opened a segment just before its holder unlinked it could take the lock
  afterwards on a file that no longer has a name. After locking, the path must still name the same
  inode, or the segment is let go.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from tollgate.store import journal_format as fmt

_CREATING_STALE_SECONDS = 60.0


@dataclass(slots=True, eq=False)
class Segment:
    """One journal file this process holds the lock on.

    ``end`` is where the movable bytes stop: for an own segment, just after the last complete line
    appended; for a frozen segment (an orphan, or an own segment after rotation: nobody appends to it
    any more), the file size. ``committed`` is how far lines have been moved to the sink (and
    checkpointed). ``records`` counts lines in between.
    """

    path: Path
    fd: int
    own: bool
    frozen: bool = False
    committed: int = 0
    end: int = 0
    written: int = 0  # own segments: every byte written, a torn fragment included
    synced: int = 0  # own segments: bytes known to be fsync-ed
    records: int = 0
    needs_newline: bool = False  # own segments: a failed write left a fragment to terminate
    head_created_at: datetime | None = None  # created_at of (roughly) the oldest unmoved record
    closed: bool = False

    @property
    def pending_bytes(self) -> int:
        return max(0, self.end - self.committed)


def _same_file(path: Path, fd: int) -> bool:
    try:
        named = os.stat(path)
    except FileNotFoundError:
        return False
    held = os.fstat(fd)
    return (named.st_dev, named.st_ino) == (held.st_dev, held.st_ino)


def _try_lock(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def create_segment(folder: Path, pid: int, token: str, seq: int) -> Segment:
    """A new, empty, locked segment owned by this process, opened for appending."""
    name = fmt.segment_name(pid, token, seq)
    creating = folder / f"{fmt.CREATING_PREFIX}{name[len(fmt.SEGMENT_PREFIX) :]}{fmt.CREATING_SUFFIX}"
    flags = os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC
    fd = os.open(creating, flags, 0o600)
    try:
        if not _try_lock(fd):  # a fresh file cannot be locked by anyone else, except by a broken peer
            raise BlockingIOError(f"could not lock the new journal segment {creating}")
        os.rename(creating, folder / name)
    except BaseException:
        os.close(fd)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(creating)
        raise
    return Segment(path=folder / name, fd=fd, own=True)


def adopt_segment(path: Path) -> Segment | None:
    """Lock a segment whose owner is gone; ``None`` if someone holds it or it vanished.

    The returned segment knows its committed offset (from the checkpoint) and its size; its record
    count is filled in by the caller (``count_lines``), which can be slow for a large file.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    try:
        if not _try_lock(fd) or not _same_file(path, fd):
            os.close(fd)
            return None
        size = os.fstat(fd).st_size
        committed = fmt.read_checkpoint(path, fd, size)
    except BaseException:
        os.close(fd)
        raise
    return Segment(
        path=path, fd=fd, own=False, frozen=True, committed=committed, end=size, written=size, synced=size
    )


def count_lines(fd: int, start: int, end: int, chunk: int = 1 << 20) -> int:
    """Line terminators in ``[start, end)`` of a file; meant to run in a worker thread."""
    count = 0
    offset = start
    while offset < end:
        data = os.pread(fd, min(chunk, end - offset), offset)
        if not data:
            break
        count += data.count(b"\n")
        offset += len(data)
    return count


def remove_segment(segment: Segment) -> None:
    """Delete a fully moved segment and its checkpoint, then let go of the lock.

    The journal goes first: if the process dies between the two unlinks, what is left is a checkpoint
    without a journal (harmless, swept by ``sweep``), never a journal without its checkpoint (which
    would be replayed from the start).
    """
    for path in (segment.path, fmt.checkpoint_path(segment.path), _checkpoint_temp(segment.path)):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
    release_segment(segment)


def release_segment(segment: Segment) -> None:
    """Close the descriptor, which drops the lock; the file stays for whoever adopts it next."""
    if not segment.closed:
        segment.closed = True
        os.close(segment.fd)


def _checkpoint_temp(segment: Path) -> Path:
    ckpt = fmt.checkpoint_path(segment)
    return ckpt.with_name(ckpt.name + fmt.TEMP_SUFFIX)


def orphan_candidates(folder: Path, held: set[Path]) -> list[Path]:
    """Segments in the folder this journal does not hold, oldest name first."""
    names = sorted(entry.name for entry in os.scandir(folder) if fmt.is_segment_name(entry.name))
    return [folder / name for name in names if folder / name not in held]


def sweep(folder: Path) -> None:
    """Remove leftovers of dead processes: checkpoints whose segment is gone, and segments that died
    while being born (empty by construction; deleted only when old and their lock can be taken, so a
    birth in progress is never disturbed)."""
    for entry in os.scandir(folder):
        name = entry.name
        if fmt.SEGMENT_SUFFIX + fmt.CHECKPOINT_SUFFIX in name:
            segment = name[: name.index(fmt.SEGMENT_SUFFIX) + len(fmt.SEGMENT_SUFFIX)]
            if fmt.is_segment_name(segment) and not (folder / segment).exists():
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(folder / name)
        elif name.startswith(fmt.CREATING_PREFIX) and name.endswith(fmt.CREATING_SUFFIX):
            _sweep_creating(folder / name)


def _sweep_creating(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return
    try:
        st = os.fstat(fd)
        # File times are wall-clock by nature, so this compares with the wall clock, not an injected one.
        stale = time.time() - st.st_mtime > _CREATING_STALE_SECONDS
        if stale and st.st_size == 0 and _try_lock(fd) and _same_file(path, fd):
            os.unlink(path)
    finally:
        os.close(fd)
