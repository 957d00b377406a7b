"""``api_key.invalid``: a stored provider credential the provider rejected (401), announced once
an hour per credential, whatever the traffic."""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from tollgate.services.events import Events
from tollgate.store.records import ProviderCredential

QUIET_S: Final = 3600.0
_MAX_REMEMBERED: Final = 10_000


class RejectedCredentials:
    def __init__(self, events: Events | None, monotonic: Callable[[], float]) -> None:
        self._events = events
        self._monotonic = monotonic
        self._last: dict[str, float] = {}

    def rejected(self, credential: ProviderCredential, status: int, request_id: str) -> None:
        if self._events is None:
            return
        now = self._monotonic()
        last = self._last.get(credential.id)
        if last is not None and now - last < QUIET_S:
            return
        if len(self._last) >= _MAX_REMEMBERED:
            self._last = {k: t for k, t in self._last.items() if now - t < QUIET_S}
        self._last[credential.id] = now
        self._events.emit(
            credential.workspace_id,
            "api_key.invalid",
            {
                "credentialId": credential.id,
                "provider": credential.provider,
                "name": credential.name,
                "last4": credential.last4,
                "upstreamStatus": status,
                "requestId": request_id,
            },
        )
