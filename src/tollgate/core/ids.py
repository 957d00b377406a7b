"""Identifiers: a prefix plus a time-ordered, URL-safe, 26-character body (ULID layout).

Ids sort by creation time, so ``ORDER BY id`` is newest-last and cursors stay stable.
The clock and the randomness source are injected.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from tollgate.core.clock import Clock

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"  # Crockford base32, lower case


def _encode(value: int, length: int) -> str:
    out = []
    for _ in range(length):
        out.append(_ALPHABET[value & 31])
        value >>= 5
    return "".join(reversed(out))


class IdFactory:
    """Makes ids like ``req_01jd9x...``: 48 bits of milliseconds then 80 random bits."""

    def __init__(self, clock: Clock, random_bytes: Callable[[int], bytes] = os.urandom) -> None:
        self._clock = clock
        self._random_bytes = random_bytes

    def new(self, prefix: str) -> str:
        millis = int(self._clock.now().timestamp() * 1000) & ((1 << 48) - 1)
        rand = int.from_bytes(self._random_bytes(10), "big")
        return f"{prefix}_{_encode(millis, 10)}{_encode(rand, 16)}"
