"""Normalised usage: the four numbers every provider's usage is mapped to before pricing.

Invariants (PROVIDERS.md §0):
- ``input_tokens`` is *uncached* input only; cache reads and writes are separate.
- ``output_tokens`` includes reasoning; ``reasoning_tokens`` is a breakdown of it.
- ``cache_write_1h_tokens`` is the part of ``cache_write_tokens`` written with a 1-hour TTL.
- ``extras`` carries other billable units genai-prices understands (``web_searches``, ...).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class NormalizedUsage:
    input_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    output_tokens: int = 0
    reasoning_tokens: int = 0
    cache_write_1h_tokens: int = 0
    extras: Mapping[str, int] = field(default_factory=dict)

    @property
    def total_input_tokens(self) -> int:
        """All input, cached or not: what genai-prices calls ``input_tokens``."""
        return self.input_tokens + self.cache_read_tokens + self.cache_write_tokens

    @property
    def total_tokens(self) -> int:
        return self.total_input_tokens + self.output_tokens
