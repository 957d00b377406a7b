"""Attribution tags (feature, route, function, customer): one cleaning rule for every door and
for ingested events."""

from __future__ import annotations

TAG_MAX = 80


def clean_tag(value: object) -> str | None:
    """Tags are trimmed and capped at 80 characters; empty or non-string values are dropped."""
    if not isinstance(value, str):
        return None
    text = value.strip()[:TAG_MAX]
    return text or None
