"""What admission reserved for a call, kept on the call until its record settles it."""

from __future__ import annotations

from dataclasses import dataclass

from tollgate.services.budgets.accounts import Line
from tollgate.services.limits.counters import Take
from tollgate.store.records import Budget


@dataclass(frozen=True, slots=True)
class Ticket:
    hold_id: str
    token_takes: tuple[Take, ...]  # tokens-per-minute takes of ``estimate_tokens`` each
    estimate_tokens: int
    lines: tuple[Line, ...]  # the ledger accounts held on
    budgets: tuple[Budget | None, ...]  # per line: its budget, or None for the monthly quota
    headers: tuple[tuple[str, str], ...]  # x-ratelimit-* for the answer
