"""Webhook signatures: how tollgate signs what it sends, and how a receiver checks it.

Every delivery carries ``x-tollgate-signature: t=<unix seconds>,v1=<hex>``, where ``<hex>`` is
the HMAC-SHA256 of ``"<t>.<raw body>"`` keyed with the endpoint's whole secret (``whsec_…``, as
UTF-8). A receiver calls ``verify`` with the raw body, that header and its secret before parsing
the body::

    from tollgate.webhooks import WebhookVerificationError, verify

    try:
        verify(request_body, request.headers.get("x-tollgate-signature"), secret)
    except WebhookVerificationError:
        return 400

While a secret is being rotated a header may carry several ``v1`` values (one per live secret)
and a receiver may pass several secrets: one match is enough. A signature older (or further in
the future) than ``tolerance_seconds`` is refused, so a captured delivery cannot be replayed
later. This module imports nothing of the server: a receiver can use it on its own.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Iterable

SIGNATURE_HEADER = "x-tollgate-signature"
SECRET_PREFIX = "whsec_"
SCHEME = "v1"
DEFAULT_TOLERANCE_SECONDS = 300
_SECRET_BYTES = 32


class WebhookVerificationError(ValueError):
    """The signature is missing, malformed, too old or new, or matches none of the secrets."""


def new_secret() -> str:
    """A fresh endpoint secret: ``whsec_`` and 32 random bytes, URL-safe base64."""
    return SECRET_PREFIX + secrets.token_urlsafe(_SECRET_BYTES)


def signature(body: bytes, secret: str, timestamp: int) -> str:
    """The hex HMAC-SHA256 of ``"<timestamp>.<body>"`` under ``secret``."""
    message = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def sign(body: bytes, secrets_: Iterable[str], timestamp: int) -> str:
    """The header value for ``body`` sent at ``timestamp``: one ``v1`` per secret."""
    parts = [f"t={timestamp}", *(f"{SCHEME}={signature(body, s, timestamp)}" for s in secrets_)]
    if len(parts) == 1:
        raise ValueError("sign with at least one secret")
    return ",".join(parts)


def verify(
    body: bytes | str,
    header: str | None,
    secret: str | Iterable[str],
    *,
    tolerance_seconds: int = DEFAULT_TOLERANCE_SECONDS,
    now: float | None = None,
) -> int:
    """Check a delivery; returns its signing time (unix seconds) or raises
    ``WebhookVerificationError``. ``body`` must be the raw bytes received (a ``str`` is taken
    as UTF-8), before any JSON parsing; ``now`` defaults to the system clock."""
    timestamp, candidates = _parse(header)
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance_seconds:
        raise WebhookVerificationError("the signature's timestamp is outside the tolerance")
    raw = body.encode() if isinstance(body, str) else body
    keys = [secret] if isinstance(secret, str) else list(secret)
    expected = [signature(raw, key, timestamp) for key in keys]
    if not any(hmac.compare_digest(e, c) for e in expected for c in candidates):
        raise WebhookVerificationError("no signature matches the secret")
    return timestamp


def _parse(header: str | None) -> tuple[int, list[str]]:
    if not header:
        raise WebhookVerificationError(f"no {SIGNATURE_HEADER} header")
    timestamp: int | None = None
    candidates: list[str] = []
    for item in header.split(","):
        name, _, value = item.strip().partition("=")
        if name == "t" and value.isascii() and value.isdigit():
            timestamp = int(value)
        elif name == SCHEME and value:
            candidates.append(value)
    if timestamp is None or not candidates:
        raise WebhookVerificationError(f"a malformed {SIGNATURE_HEADER} header")
    return timestamp, candidates
