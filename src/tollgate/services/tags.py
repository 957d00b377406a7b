"""Attribution tags (feature, route, function, customer): one cleaning rule for every door.

The gateway's doors apply the same rule (``tollgate.gateway.call.clean_tag``); this copy lives
here so the services below the gateway (ingest) can use it without importing upward.
"""

from __future__ import annotations

TAG_MAX = 80


def clean_tag(value: object) -> str | None:
    """Tags are trimmed and capped at 80 characters; empty or non-string values are dropped."""
    if not isinstance(value, str):
        return None
    text = value.strip()[:TAG_MAX]
    return text or None
