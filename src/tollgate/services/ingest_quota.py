"""The seam where a workspace's plan quota admits ingested events (spend control fills it in).

``admit`` is asked once per ingest request, after the events are validated and before any is
journaled: a refusal (``QuotaExceeded``, 402) stores nothing.
"""

from __future__ import annotations

from typing import ClassVar, Protocol

from tollgate.core.errors import PaymentRequired


class QuotaExceeded(PaymentRequired):
    """The workspace's plan allows no more requests or events this month."""

    default_code: ClassVar[str] = "quota_exceeded"


class IngestQuota(Protocol):
    async def admit(self, workspace_id: str, events: int) -> None:
        """Return if ``events`` more events may be recorded for the workspace, else raise
        ``QuotaExceeded``."""
        ...


class UnlimitedQuota:
    """No plan limits: every event is admitted (the default until spend control exists)."""

    async def admit(self, workspace_id: str, events: int) -> None:
        return None
