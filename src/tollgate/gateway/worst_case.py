"""The most a call can use before it starts: what token limits reserve and budgets hold.

Input: the request body at three bytes a token (a pessimistic rate; English text runs about
four). Output: the request's own cap (``max_tokens`` and its names in each provider's format),
else a configured default; none for embeddings.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from tollgate.providers.base import Operation

BYTES_PER_TOKEN: Final = 3
# Where each request format puts its output cap: top-level names, then nested ones.
_TOP_LEVEL: Final = ("max_completion_tokens", "max_tokens", "max_output_tokens", "maxTokens")
_NESTED: Final = (
    ("generationConfig", "maxOutputTokens"),
    ("inferenceConfig", "maxTokens"),
    ("parameters", "max_new_tokens"),
)


def input_tokens(request_bytes: int) -> int:
    return -(-request_bytes // BYTES_PER_TOKEN)


def _positive_int(value: object) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    return None


def requested_output_tokens(body: Mapping[str, Any] | None) -> int | None:
    if body is None:
        return None
    for name in _TOP_LEVEL:
        if (found := _positive_int(body.get(name))) is not None:
            return found
    for outer, inner in _NESTED:
        nested = body.get(outer)
        if isinstance(nested, Mapping) and (found := _positive_int(nested.get(inner))) is not None:
            return found
    return None


def output_tokens(operation: Operation, body: Mapping[str, Any] | None, default: int) -> int:
    if operation is Operation.EMBEDDINGS:
        return 0
    return requested_output_tokens(body) or default
