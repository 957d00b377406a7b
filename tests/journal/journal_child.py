"""A gateway worker stand-in for the crash tests, run as a separate process and SIGKILL-ed.

It journals records in a loop and writes ``ID <id>`` to stdout only after ``append`` returned, i.e.
after the record was accepted. Its sink is a file-backed fake database (one ``<tag> <call> <id>`` line
per insert attempt) that survives the process, or a database that is down.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path

from journal_support import make_record

from tollgate.core.clock import SystemClock
from tollgate.store.journal import Journal
from tollgate.store.records import UsageRecord


def out(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


async def main(opts: dict[str, object]) -> None:
    folder = Path(str(opts["folder"]))
    db_path = str(opts["db"])
    tag = str(opts["tag"])
    slow_call = int(str(opts.get("slow_call", 0)))
    calls = 0

    async def sink(records: list[UsageRecord]) -> None:
        nonlocal calls
        if opts.get("sink") == "down":
            raise ConnectionError("database is down")
        calls += 1
        number = calls
        data = "".join(f"{tag} {number} {r.id}\n" for r in records).encode()
        fd = os.open(db_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, data)
        finally:
            os.close(fd)
        out(f"SINK {number} {len(records)}")
        if number == slow_call:  # inserted, but the checkpoint will not be written before the kill
            await asyncio.sleep(60)

    journal = Journal(
        folder,
        sink=sink,
        clock=SystemClock(),
        batch_size=int(str(opts.get("batch_size", 50))),
        interval=0.01,
        max_backoff=0.05,
        orphan_interval=0.05,
    )
    await journal.start()
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    out(f"READY {os.getpid()}")
    burst = int(str(opts.get("burst", 10)))
    i = 0
    while not stop.is_set():
        for _ in range(burst):
            record = make_record(i, tag)
            journal.append(record)
            out(f"ID {record.id}")
            i += 1
        await asyncio.sleep(0.002)
    await journal.close(flush_timeout=10)
    out("CLOSED")


if __name__ == "__main__":
    asyncio.run(main(json.loads(sys.argv[1])))
