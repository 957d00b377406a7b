"""The journal's sink: the usage insert, with permanent refusals told apart from outages.

The journal retries any failure forever, except ``RecordsRejected``, which quarantines the
offending records. A record the database can never take (a constraint it breaks, data a
column refuses such as a NUL character in PostgreSQL text) is a refusal; a lost connection is
an outage and is retried.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from sqlalchemy.exc import DataError, IntegrityError

from tollgate.core.errors import TollgateError
from tollgate.store.journal import RecordsRejected
from tollgate.store.records import UsageRecord
from tollgate.store.repos import Store

Sink = Callable[[list[UsageRecord]], Awaitable[object]]


def database_sink(store: Store) -> Sink:
    async def sink(records: Sequence[UsageRecord]) -> int:
        try:
            return await store.usage.insert_many(records)
        except (DataError, IntegrityError) as exc:
            raise RecordsRejected((), f"the database refused the batch: {type(exc.orig).__name__}") from exc
        except TollgateError as exc:
            if exc.code == "store_integrity_error":
                raise RecordsRejected((), exc.message) from exc
            raise

    return sink
