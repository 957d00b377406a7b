"""One ingested usage event, validated field by field: seed 001's body plus tollgate's extras.

Pure and synchronous (no pydantic per item: a batch holds up to 1,000 events). ``parse_event``
returns either an ``IngestEvent`` or every problem it found in the item, each naming its field.

Rules: token counts are whole numbers >= 0, or null (counted as 0); booleans are not numbers;
``120.0`` is 120 but ``120.5`` is refused. ``cached_tokens`` and ``cache_write_tokens`` are parts
of ``prompt_tokens``, ``reasoning_tokens`` a part of ``completion_tokens``; ``total_tokens`` only
checks the parts (it must be at least ``prompt + completion`` when all three are given). Unknown
top-level fields are ignored. Strings may not hold NUL characters (PostgreSQL text refuses them,
and a record the database refuses after a 201 would be a lost record).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from tollgate.core import jsonx
from tollgate.core.money import usd_to_nanos
from tollgate.providers.registry import resolve_provider
from tollgate.services.tags import clean_tag

PROVIDER_MAX = 64
MODEL_MAX = 200
EVENT_ID_MAX = 128
METADATA_MAX_KEYS = 50
METADATA_MAX_BYTES = 8 * 1024
TOKENS_MAX = 10**12  # per event; keeps sums of millions of events inside a 64-bit column
LATENCY_MAX_MS = 2**31 - 1  # the column is a 32-bit integer
COST_MAX_USD = 1_000_000
FUTURE_SLACK = timedelta(minutes=5)
STATUSES = ("success", "error")

_TOKEN_FIELDS = (
    "prompt_tokens",
    "completion_tokens",
    "total_tokens",
    "cached_tokens",
    "cache_write_tokens",
    "reasoning_tokens",
)
_TAG_KEYS_ALL = ("feature", "routeName", "functionName", "customerId")
_NUL_ESCAPED = b"\\u0000"


@dataclass(frozen=True, slots=True)
class FieldProblem:
    field: str | None  # None: the item itself (not an object)
    message: str


@dataclass(frozen=True, slots=True)
class TimeWindow:
    """Timestamps an event may carry: not after ``latest``; not before ``earliest`` when set."""

    latest: datetime
    earliest: datetime | None = None
    retention_days: int | None = None


@dataclass(frozen=True, slots=True)
class IngestEvent:
    provider: str
    model: str
    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int
    cache_write_tokens: int
    reasoning_tokens: int
    reported_cost_nanos: int | None
    latency_ms: int
    status: str
    feature: str | None
    route_name: str | None
    function_name: str | None
    customer_id: str | None
    metadata: Mapping[str, Any]
    event_id: str | None
    timestamp: datetime | None


class _Problems:
    __slots__ = ("items",)

    def __init__(self) -> None:
        self.items: list[FieldProblem] = []

    def add(self, field: str | None, message: str) -> None:
        self.items.append(FieldProblem(field, message))


def parse_event(raw: object, window: TimeWindow) -> IngestEvent | list[FieldProblem]:
    """The event in ``raw``, or every problem found in it."""
    if not isinstance(raw, dict):
        return [FieldProblem(None, "each event must be a JSON object")]
    problems = _Problems()
    provider = _provider(raw.get("provider"), problems)
    model = _text(raw.get("model"), "model", MODEL_MAX, problems, required=True)
    counts = {name: _count(raw.get(name), name, problems) for name in _TOKEN_FIELDS}
    _check_parts(counts, problems)
    tags, metadata = _metadata(raw.get("metadata"), problems)
    event = IngestEvent(
        provider=provider or "",
        model=model or "",
        prompt_tokens=counts["prompt_tokens"] or 0,
        completion_tokens=counts["completion_tokens"] or 0,
        cached_tokens=counts["cached_tokens"] or 0,
        cache_write_tokens=counts["cache_write_tokens"] or 0,
        reasoning_tokens=counts["reasoning_tokens"] or 0,
        reported_cost_nanos=_cost(raw.get("cost"), problems),
        latency_ms=_latency(raw.get("latency_ms"), problems),
        status=_status(raw.get("status"), problems),
        feature=tags.get("feature"),
        route_name=tags.get("routeName"),
        function_name=tags.get("functionName"),
        customer_id=tags.get("customerId"),
        metadata=metadata,
        event_id=_text(raw.get("eventId"), "eventId", EVENT_ID_MAX, problems, required=False),
        timestamp=_timestamp(raw.get("timestamp"), window, problems),
    )
    return problems.items or event


def _is_number(value: object) -> bool:
    return type(value) is int or type(value) is float


def _count(value: object, name: str, problems: _Problems) -> int | None:
    if value is None:
        return None
    if type(value) is float and value.is_integer():
        value = int(value)
    if type(value) is not int:
        problems.add(name, f"{name} must be a whole number of tokens (>= 0) or null")
        return None
    if value < 0:
        problems.add(name, f"{name} must not be negative")
        return None
    if value > TOKENS_MAX:
        problems.add(name, f"{name} must be at most {TOKENS_MAX}")
        return None
    return value


def _check_parts(counts: Mapping[str, int | None], problems: _Problems) -> None:
    prompt, completion = counts["prompt_tokens"], counts["completion_tokens"]
    cached, written = counts["cached_tokens"] or 0, counts["cache_write_tokens"] or 0
    if cached + written > (prompt or 0):
        field = "cached_tokens" if cached else "cache_write_tokens"
        problems.add(
            field, "cached_tokens + cache_write_tokens must not exceed prompt_tokens (they are parts of it)"
        )
    if (counts["reasoning_tokens"] or 0) > (completion or 0):
        problems.add(
            "reasoning_tokens", "reasoning_tokens must not exceed completion_tokens (it is a part of it)"
        )
    total = counts["total_tokens"]
    if total is not None and prompt is not None and completion is not None and total < prompt + completion:
        problems.add("total_tokens", "total_tokens must be at least prompt_tokens + completion_tokens")


def _text(value: object, name: str, limit: int, problems: _Problems, *, required: bool) -> str | None:
    if value is None:
        if required:
            problems.add(name, f"{name} is required")
        return None
    if not isinstance(value, str) or not value.strip():
        problems.add(name, f"{name} must be a non-empty string")
        return None
    if len(value) > limit:
        problems.add(name, f"{name} must be at most {limit} characters")
        return None
    if "\x00" in value:
        problems.add(name, f"{name} must not contain NUL characters")
        return None
    return value


def _provider(value: object, problems: _Problems) -> str | None:
    text = _text(value, "provider", PROVIDER_MAX, problems, required=True)
    if text is None:
        return None
    spec = resolve_provider(text)
    return spec.id if spec is not None else text.strip().lower()


def _cost(value: object, problems: _Problems) -> int | None:
    if value is None:
        return None
    if not _is_number(value):
        problems.add("cost", "cost must be a number of US dollars (>= 0) or null")
        return None
    assert isinstance(value, int | float)
    if value < 0 or value > COST_MAX_USD:
        problems.add("cost", f"cost must be between 0 and {COST_MAX_USD} US dollars")
        return None
    return usd_to_nanos(Decimal(str(value)))


def _latency(value: object, problems: _Problems) -> int:
    """Milliseconds; a fraction (``performance.now()`` differences) is rounded."""
    if value is None:
        return 0
    if not _is_number(value):
        problems.add("latency_ms", "latency_ms must be a number of milliseconds (>= 0) or null")
        return 0
    assert isinstance(value, int | float)
    if value < 0 or value > LATENCY_MAX_MS:
        problems.add("latency_ms", f"latency_ms must be between 0 and {LATENCY_MAX_MS}")
        return 0
    return round(value)


def _status(value: object, problems: _Problems) -> str:
    if value is None:
        return "success"
    if value not in STATUSES:
        problems.add("status", f"status must be one of: {', '.join(STATUSES)}")
        return "success"
    assert isinstance(value, str)
    return value


def _metadata(value: object, problems: _Problems) -> tuple[dict[str, str], dict[str, Any]]:
    """(the attribution tags taken out of it, the rest of the metadata)."""
    if value is None:
        return {}, {}
    if not isinstance(value, dict):
        problems.add("metadata", "metadata must be a JSON object")
        return {}, {}
    if len(value) > METADATA_MAX_KEYS:
        problems.add("metadata", f"metadata may hold at most {METADATA_MAX_KEYS} keys")
        return {}, {}
    try:
        encoded = jsonx.dumps(value)
    except TypeError:  # a value JSON cannot carry as given (an integer past 64 bits, a set)
        problems.add("metadata", "metadata must hold only JSON values, integers within 64 bits")
        return {}, {}
    if len(encoded) > METADATA_MAX_BYTES:
        problems.add("metadata", f"metadata must be at most {METADATA_MAX_BYTES} bytes as JSON")
        return {}, {}
    if _NUL_ESCAPED in encoded:
        problems.add("metadata", "metadata must not contain NUL characters")
        return {}, {}
    tags: dict[str, str] = {}
    for key in _TAG_KEYS_ALL:
        raw = value.get(key)
        if raw is not None and not isinstance(raw, str):
            problems.add(f"metadata.{key}", f"metadata.{key} must be a string")
            continue
        cleaned = clean_tag(raw)
        if cleaned is not None:
            tags[key] = cleaned
    rest = {k: v for k, v in value.items() if k not in _TAG_KEYS_ALL}
    return tags, rest


def _timestamp(value: object, window: TimeWindow, problems: _Problems) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, str):
        problems.add("timestamp", "timestamp must be an ISO 8601 date-time string")
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        problems.add("timestamp", "timestamp must be an ISO 8601 date-time, e.g. 2026-01-31T12:00:00Z")
        return None
    at = parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    if at > window.latest:
        problems.add("timestamp", "timestamp must not be more than 5 minutes in the future")
        return None
    if window.earliest is not None and at < window.earliest:
        problems.add(
            "timestamp",
            f"timestamp is older than this workspace keeps usage records ({window.retention_days} days)",
        )
        return None
    return at
