"""An endpoint's signing secrets: sealed at rest, opened only to sign a delivery.

The raw secret (``whsec_…``) is needed to sign, so it is sealed (AES-256-GCM, bound to its
endpoint's row), never hashed. It is returned once, at creation and at rotation; reads show
its last four characters. A rotation keeps the previous secret signing for
``ROTATION_OVERLAP``, so a delivery carries one ``v1`` per live secret and a receiver can switch
at its own pace.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Final

from tollgate.services.sealing import Keyring
from tollgate.store.webhook_records import SealedSecret, WebhookEndpoint

ROTATION_OVERLAP: Final = timedelta(hours=24)
PREVIEW_CHARS: Final = 4


def sealing_context(workspace_id: str, endpoint_id: str) -> str:
    """Associated data: a sealed secret opens only on the row it was sealed for."""
    return f"webhook/{workspace_id}/{endpoint_id}"


def seal_secret(keyring: Keyring, workspace_id: str, endpoint_id: str, raw: str) -> SealedSecret:
    return SealedSecret(keyring.seal(raw.encode(), sealing_context(workspace_id, endpoint_id)))


def preview(raw: str) -> str:
    return raw[-PREVIEW_CHARS:]


def rotated_secrets(
    keyring: Keyring, endpoint: WebhookEndpoint, raw: str, now: datetime
) -> tuple[SealedSecret, ...]:
    """``raw`` first, then the endpoint's secrets that are still live, each expiring at most
    ``ROTATION_OVERLAP`` from now (a secret already rotated out keeps its earlier expiry)."""
    until = now + ROTATION_OVERLAP
    kept = tuple(
        SealedSecret(s.sealed, until if s.expires_at is None else min(s.expires_at, until))
        for s in endpoint.secrets
        if s.live_at(now)
    )
    return (seal_secret(keyring, endpoint.workspace_id, endpoint.id, raw), *kept)


def live_secrets(keyring: Keyring, endpoint: WebhookEndpoint, now: datetime) -> list[str]:
    """The raw secrets to sign with now, newest first. Raises ``SealingError`` if one does not
    open (an unknown master key or tampered data)."""
    context = sealing_context(endpoint.workspace_id, endpoint.id)
    return [keyring.open(s.sealed, context).decode() for s in endpoint.secrets if s.live_at(now)]
