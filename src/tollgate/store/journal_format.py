"""The journal's bytes on disk: record lines, checkpoints and quarantine entries. Pure functions.

Framing invariant: a record is exactly one line, ``orjson.dumps(record.to_json_dict()) + b"\\n"``.
orjson never emits a raw newline (JSON escapes control characters inside strings and orjson does not
indent), so ``\\n`` occurs only as the terminator. A byte run not followed by ``\\n`` (a torn tail: the
writer was killed mid-write) is never handed to the parser; ``split_lines`` leaves it unconsumed.

Folder layout (all names are fixed here and nowhere else)::

    usage-<pid>-<random>-<seq>.jsonl        one segment, flock-ed by the process that owns or drains it
    usage-<pid>-<random>-<seq>.jsonl.ckpt   committed byte offset of that segment: ``{"offset": N}``
    .usage-<pid>-<random>-<seq>.creating    a segment being born (locked, then renamed into place)
    quarantine.jsonl                        lines that could not be moved, with where they came from
"""

from __future__ import annotations

import base64
import os
from datetime import datetime
from pathlib import Path

import orjson

from tollgate.store.records import UsageRecord

SEGMENT_PREFIX = "usage-"
SEGMENT_SUFFIX = ".jsonl"
CHECKPOINT_SUFFIX = ".ckpt"
CREATING_PREFIX = ".usage-"
CREATING_SUFFIX = ".creating"
TEMP_SUFFIX = ".tmp"
QUARANTINE_NAME = "quarantine.jsonl"

NEWLINE = 0x0A


class CorruptLine(ValueError):
    """A complete line that does not hold a record this version can read."""


def encode_record(record: UsageRecord) -> bytes:
    """One record as one journal line, terminator included."""
    return orjson.dumps(record.to_json_dict()) + b"\n"


def decode_record(line: bytes) -> UsageRecord:
    """The record in one line (terminator excluded); ``CorruptLine`` if there is none."""
    try:
        data = orjson.loads(line)
        if not isinstance(data, dict):
            raise CorruptLine(f"a line holds a {type(data).__name__}, not an object")
        return UsageRecord.from_json_dict(data)
    except CorruptLine:
        raise
    except (orjson.JSONDecodeError, TypeError, ValueError, KeyError) as exc:
        raise CorruptLine(f"{type(exc).__name__}: {exc}"[:300]) from exc


def split_lines(data: bytes, limit: int) -> tuple[list[bytes], int]:
    """Up to ``limit`` complete lines from the front of ``data`` (without terminators), and the number
    of bytes they span (terminators included). Bytes after the last terminator are never returned."""
    lines: list[bytes] = []
    start = 0
    while len(lines) < limit:
        end = data.find(b"\n", start)
        if end < 0:
            break
        lines.append(data[start:end])
        start = end + 1
    return lines, start


def segment_name(pid: int, token: str, seq: int) -> str:
    return f"{SEGMENT_PREFIX}{pid}-{token}-{seq:06d}{SEGMENT_SUFFIX}"


def is_segment_name(name: str) -> bool:
    return name.startswith(SEGMENT_PREFIX) and name.endswith(SEGMENT_SUFFIX)


def checkpoint_path(segment: Path) -> Path:
    return segment.with_name(segment.name + CHECKPOINT_SUFFIX)


def read_checkpoint(segment: Path, fd: int, size: int) -> int:
    """The committed offset of a segment, or 0 when it cannot be trusted.

    0 is always safe: replaying from the start only re-sends records the (idempotent) sink already
    holds. An offset is trusted only if it lies within the file and just after a line terminator.
    """
    try:
        raw = checkpoint_path(segment).read_bytes()
    except FileNotFoundError:
        return 0
    try:
        offset = orjson.loads(raw)["offset"]
    except (orjson.JSONDecodeError, TypeError, KeyError):
        return 0
    if not isinstance(offset, int) or offset <= 0 or offset > size:
        return 0
    if os.pread(fd, 1, offset - 1) != b"\n":
        return 0
    return offset


def write_checkpoint(segment: Path, offset: int) -> None:
    """Replace the checkpoint atomically (write a temp file, then rename over the old one).

    Only the holder of the segment's lock calls this, so the temp name cannot collide. It is not
    fsync-ed: a checkpoint that rolls back after a power loss only causes an idempotent replay.
    """
    final = checkpoint_path(segment)
    temp = final.with_name(final.name + TEMP_SUFFIX)
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    try:
        os.write(fd, orjson.dumps({"offset": offset}))
    finally:
        os.close(fd)
    os.replace(temp, final)


def quarantine_entry(*, at: datetime, source: str, offset: int, reason: str, error: str, raw: bytes) -> bytes:
    """One quarantine line. The raw bytes are kept exactly (base64), so nothing is lost to decoding."""
    entry = {
        "at": at.isoformat(),
        "source": source,
        "offset": offset,
        "reason": reason,
        "error": error,
        "line_b64": base64.b64encode(raw).decode("ascii"),
    }
    return orjson.dumps(entry) + b"\n"
