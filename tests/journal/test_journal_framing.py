"""Line framing: any record round-trips, and no truncation of a file ever yields a wrong record."""

from __future__ import annotations

import asyncio
import tempfile
from datetime import UTC
from pathlib import Path

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from journal_support import FakeDatabase

from tollgate.core.clock import SystemClock
from tollgate.store import journal_format as fmt
from tollgate.store.journal import Journal
from tollgate.store.records import UsageRecord

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)
counts = st.integers(min_value=0, max_value=2**63 - 1)
maybe_text = st.none() | st.text()

records = st.builds(
    UsageRecord,
    id=st.text(min_size=1),
    workspace_id=st.text(),
    key_id=maybe_text,
    created_at=st.datetimes(timezones=st.just(UTC)),
    provider=st.text(),
    model=st.text(),
    upstream_model=maybe_text,
    operation=st.text(),
    door=st.text(),
    stream=st.booleans(),
    status=st.sampled_from(["success", "error", "client_closed"]),
    http_status=st.integers(min_value=100, max_value=599),
    error_code=maybe_text,
    input_tokens=counts,
    cache_read_tokens=counts,
    output_tokens=counts,
    estimated=st.booleans(),
    cost_nanos=st.none() | counts,
    feature=maybe_text,
    metadata=st.dictionaries(st.text(max_size=10), json_values, max_size=4),
)


@given(records)
def test_a_record_is_one_line_and_round_trips(record: UsageRecord) -> None:
    line = fmt.encode_record(record)
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    assert fmt.decode_record(line[:-1]) == record


@settings(max_examples=60)
@given(st.lists(records, min_size=1, max_size=5), st.data())
def test_a_truncated_file_yields_exactly_the_complete_records(
    records_: list[UsageRecord], data: st.DataObject
):
    encoded = [fmt.encode_record(r) for r in records_]
    blob = b"".join(encoded)
    cut = data.draw(st.integers(min_value=0, max_value=len(blob)))
    boundaries = [sum(len(x) for x in encoded[: n + 1]) for n in range(len(encoded))]
    whole = sum(1 for b in boundaries if b <= cut)

    lines, consumed = fmt.split_lines(blob[:cut], limit=10**6)
    assert [fmt.decode_record(line) for line in lines] == records_[:whole]
    assert consumed == (boundaries[whole - 1] if whole else 0)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(records, min_size=1, max_size=4, unique_by=lambda r: r.id), st.data())
def test_a_dead_workers_truncated_journal_replays_exactly_its_complete_records(
    records_: list[UsageRecord], data: st.DataObject
):
    encoded = [fmt.encode_record(r) for r in records_]
    blob = b"".join(encoded)
    cut = data.draw(st.integers(min_value=1, max_value=len(blob)))
    whole = sum(1 for n in range(len(encoded)) if len(b"".join(encoded[: n + 1])) <= cut)

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / fmt.segment_name(999_999, "deadbeef", 1)).write_bytes(blob[:cut])
        db = FakeDatabase()

        async def replay() -> Journal:
            journal = Journal(folder, sink=db.insert_many, clock=SystemClock(), interval=0.01)
            await journal.start()
            assert await journal.flush(timeout=5)
            await journal.close()
            return journal

        journal = asyncio.run(replay())
        assert [db.rows[i] for batch in db.batches for i in batch] == records_[:whole]
        torn = cut not in {len(b"".join(encoded[: n + 1])) for n in range(len(encoded))}
        assert journal.lag().quarantined == int(torn)
        if torn:
            [entry] = [orjson.loads(x) for x in (folder / fmt.QUARANTINE_NAME).read_bytes().splitlines()]
            assert entry["reason"] == "torn"
        assert list(folder.glob("usage-*")) == []
