"""Limit counters: take units (a request, an estimate of tokens) from several limits at once.

Each counter is a GCRA ("generic cell rate algorithm", a token bucket kept as one timestamp): a
limit of ``limit`` units per ``window`` refills one unit every ``window / limit`` and holds at
most ``limit`` units, so a burst of the whole limit is allowed and then the steady rate. The
state is the counter's *theoretical arrival time* (``tat``): the moment it will be full again.
Taking ``n`` units moves it ``n * window / limit`` later (rounded up to a microsecond); the take
is allowed while the counter is owed at most one window. All arithmetic is in integer
microseconds, worked out here (the Redis script only adds and compares), so both backends decide
alike.

Invariants:

- ``take`` is atomic and all or nothing: if any limit refuses, no counter moves.
- ``settle`` moves a counter by a correction (tokens used minus tokens reserved) without a check:
  an underestimate becomes a debt that later takes must wait out; a refund never makes a
  counter fuller than full.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final, Protocol

MICROS_PER_MS: Final = 1000
_PRUNE_EVERY: Final = 4096  # takes between sweeps of the full (forgettable) counters


@dataclass(frozen=True, slots=True)
class Take:
    """``amount`` units from the counter ``key``, which allows ``limit`` units per ``window_ms``."""

    key: str
    limit: int
    window_ms: int
    amount: int = 1

    def __post_init__(self) -> None:
        if self.limit < 1 or self.window_ms < 1 or self.amount < 0:
            raise ValueError("a limit and its window are positive, an amount is not negative")

    def span_us(self, units: int) -> int:
        """How long ``units`` take to come back (rounded up: the limit is never passed). Worked
        out for the whole amount, not per unit, so that a limit of more units than its window
        has microseconds (100 million tokens a minute) keeps its rate."""
        return -(-units * self.window_us // self.limit)

    @property
    def cost_us(self) -> int:
        """How far taking ``amount`` moves the counter."""
        return self.span_us(self.amount)

    @property
    def window_us(self) -> int:
        return self.window_ms * MICROS_PER_MS


@dataclass(frozen=True, slots=True)
class Status:
    """One limit after a take: what the ``x-ratelimit-*`` headers say."""

    limit: int
    remaining: int  # units left (after the take, if it was allowed)
    reset_ms: int  # until the counter is full again
    retry_after_ms: int  # 0 if allowed; else until the amount would fit


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    statuses: tuple[Status, ...]  # one per take, in order

    @property
    def retry_after_ms(self) -> int:
        """How long until every refusing limit would allow its amount (0 when allowed)."""
        return max((s.retry_after_ms for s in self.statuses), default=0)


class LimitCounters(Protocol):
    async def take(self, takes: Sequence[Take], now_us: int) -> Decision:
        """Take every amount or none (see the module docstring)."""
        ...

    async def settle(self, take: Take, correction: int, now_us: int) -> None:
        """Move ``take.key`` by ``correction`` units (negative: give units back)."""
        ...


def moved(tat_us: int, take: Take, now_us: int) -> int:
    """The counter's time after taking ``take.amount`` (from its stored time ``tat_us``)."""
    return max(tat_us, now_us) + take.cost_us


def fits(tat_us: int, take: Take, now_us: int) -> bool:
    return moved(tat_us, take, now_us) - now_us <= take.window_us


def status(tat_us: int, take: Take, now_us: int, allowed: bool) -> Status:
    """The status of ``take`` given the counter's stored time before it (``tat_us``)."""
    after = moved(tat_us, take, now_us)
    owed = (after if allowed else max(tat_us, now_us)) - now_us
    remaining = max(0, (take.window_us - owed) * take.limit // take.window_us)
    wait = 0 if allowed else max(0, after - take.window_us - now_us)
    return Status(take.limit, min(remaining, take.limit), _ceil_ms(owed), _ceil_ms(wait))


def settled(tat_us: int, take: Take, correction: int, now_us: int) -> int:
    return max(max(tat_us, now_us) + take.span_us(correction), now_us)


def check_distinct(takes: Sequence[Take]) -> None:
    """One take per counter: two takes of one key would each read it before either writes."""
    if len({take.key for take in takes}) != len(takes):
        raise ValueError("each counter may appear once in a take")


def decide(tats: Sequence[int], takes: Sequence[Take], now_us: int) -> Decision:
    allowed = all(fits(tat, take, now_us) for tat, take in zip(tats, takes, strict=True))
    statuses = tuple(status(tat, take, now_us, allowed) for tat, take in zip(tats, takes, strict=True))
    return Decision(allowed, statuses)


def _ceil_ms(micros: int) -> int:
    return -(-micros // MICROS_PER_MS)


class MemoryCounters:
    """Counters in this process (one instance, no Redis). Atomic because nothing awaits between
    reading and writing; full counters are forgotten now and then, so memory follows the keys in
    use, not every key ever seen."""

    def __init__(self) -> None:
        self._tats: dict[str, int] = {}
        self._since_prune = 0

    async def take(self, takes: Sequence[Take], now_us: int) -> Decision:
        check_distinct(takes)
        tats = [self._tats.get(take.key, 0) for take in takes]
        decision = decide(tats, takes, now_us)
        if decision.allowed:
            for tat, take in zip(tats, takes, strict=True):
                self._tats[take.key] = moved(tat, take, now_us)
        self._prune(now_us)
        return decision

    async def settle(self, take: Take, correction: int, now_us: int) -> None:
        self._tats[take.key] = settled(self._tats.get(take.key, 0), take, correction, now_us)

    def snapshot(self) -> Mapping[str, int]:
        """The stored times (for tests and diagnostics)."""
        return dict(self._tats)

    def _prune(self, now_us: int) -> None:
        self._since_prune += 1
        if self._since_prune < _PRUNE_EVERY:
            return
        self._since_prune = 0
        for key in [key for key, tat in self._tats.items() if tat <= now_us]:
            del self._tats[key]
