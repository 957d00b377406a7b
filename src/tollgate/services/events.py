"""Where services send webhook events: the outbox's notifier (``services/webhooks/outbox``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol


class Events(Protocol):
    def emit(self, workspace_id: str, event: str, data: Mapping[str, Any]) -> None:
        """Queue ``event`` for the workspace's subscribed endpoints; never blocks, never raises."""
        ...
