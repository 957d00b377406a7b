"""Opaque, URL-safe keyset cursors.

A cursor is ``base64url(json([kind, *position]) + check)``: the check is an unkeyed BLAKE2b
digest that catches truncated, edited or garbage cursors (``BadRequest`` ``invalid_cursor``).
It is not a secret: a client forging a valid cursor only picks another position in a listing
that is still scoped by its own workspace.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from tollgate.core.errors import BadRequest

_CHECK_BYTES = 6
_PERSON = b"tg-cursor-v1"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MAX_CURSOR_CHARS = 512


def _check(payload: bytes) -> bytes:
    return hashlib.blake2b(payload, digest_size=_CHECK_BYTES, person=_PERSON).digest()


def _invalid() -> BadRequest:
    return BadRequest("the cursor is not valid; start again from the first page", code="invalid_cursor")


def encode_cursor(kind: str, *position: Any) -> str:
    payload = orjson.dumps([kind, *position])
    return base64.urlsafe_b64encode(payload + _check(payload)).rstrip(b"=").decode("ascii")


def decode_cursor(kind: str, cursor: str, arity: int) -> list[Any]:
    """The position stored in ``cursor``, or ``BadRequest(invalid_cursor)``."""
    if not cursor or len(cursor) > MAX_CURSOR_CHARS:
        raise _invalid()
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
    except (binascii.Error, ValueError) as exc:
        raise _invalid() from exc
    payload, check = raw[:-_CHECK_BYTES], raw[-_CHECK_BYTES:]
    if len(raw) <= _CHECK_BYTES or not hmac.compare_digest(check, _check(payload)):
        raise _invalid()
    try:
        values = orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        raise _invalid() from exc
    if not isinstance(values, list) or len(values) != arity + 1 or values[0] != kind:
        raise _invalid()
    return values[1:]


def time_to_micros(value: datetime) -> int:
    """Exact integer microseconds since the epoch of an aware datetime."""
    delta = value.astimezone(UTC) - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def micros_to_time(value: object) -> datetime:
    if not isinstance(value, int) or isinstance(value, bool):
        raise _invalid()
    try:
        return _EPOCH + timedelta(microseconds=value)
    except OverflowError as exc:
        raise _invalid() from exc


def require_str(value: object) -> str:
    if not isinstance(value, str) or not value:
        raise _invalid()
    return value
