"""Webhook signatures as a receiver sees them: a delivery signed by tollgate verifies with the
helper; a changed body, a wrong secret, a stale or malformed header does not."""

from __future__ import annotations

import hashlib
import hmac

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tollgate.webhooks import (
    SECRET_PREFIX,
    WebhookVerificationError,
    new_secret,
    sign,
    verify,
)

NOW = 1_790_000_000
BODY = b'{"id":"evt_1","event":"budget.alert","timestamp":"2026-09-21T10:00:00Z","data":{}}'


def test_the_header_is_the_documented_hmac() -> None:
    """``t=<unix>,v1=<hex HMAC-SHA256 of "t.body">`` keyed with the whole secret, so a receiver in
    any language can check it without this package."""
    secret = new_secret()
    expected = hmac.new(secret.encode(), f"{NOW}.".encode() + BODY, hashlib.sha256).hexdigest()
    assert sign(BODY, [secret], NOW) == f"t={NOW},v1={expected}"


def test_a_signed_delivery_verifies_and_returns_its_time() -> None:
    secret = new_secret()
    header = sign(BODY, [secret], NOW)
    assert verify(BODY, header, secret, now=NOW + 10) == NOW
    assert verify(BODY.decode(), header, secret, now=NOW - 10) == NOW  # text bodies are UTF-8


@pytest.mark.parametrize(
    "body",
    [BODY.replace(b"budget.alert", b"budget.exceeded"), BODY + b" ", BODY[:-1], b""],
)
def test_a_tampered_body_fails(body: bytes) -> None:
    secret = new_secret()
    with pytest.raises(WebhookVerificationError, match="no signature matches"):
        verify(body, sign(BODY, [secret], NOW), secret, now=NOW)


def test_a_wrong_secret_fails() -> None:
    header = sign(BODY, [new_secret()], NOW)
    with pytest.raises(WebhookVerificationError, match="no signature matches"):
        verify(BODY, header, new_secret(), now=NOW)


@pytest.mark.parametrize("age", [301, -301, 86_400])
def test_a_signature_outside_the_tolerance_fails(age: int) -> None:
    """A captured delivery replayed later (or a clock far ahead) is refused."""
    secret = new_secret()
    header = sign(BODY, [secret], NOW)
    with pytest.raises(WebhookVerificationError, match="tolerance"):
        verify(BODY, header, secret, now=NOW + age)
    assert verify(BODY, header, secret, now=NOW + age, tolerance_seconds=abs(age)) == NOW


def test_during_rotation_either_secret_verifies() -> None:
    old, new = new_secret(), new_secret()
    header = sign(BODY, [old, new], NOW)
    assert header.count(",v1=") == 2
    assert verify(BODY, header, old, now=NOW) == NOW
    assert verify(BODY, header, new, now=NOW) == NOW
    assert verify(BODY, sign(BODY, [new], NOW), [old, new], now=NOW) == NOW  # a receiver holding both


@pytest.mark.parametrize(
    "header",
    [None, "", "v1=abc", f"t={NOW}", "t=soon,v1=abc", "t=\u00b2,v1=abc", "garbage", f"t={NOW},v0=abc"],
)
def test_a_missing_or_malformed_header_fails(header: str | None) -> None:
    with pytest.raises(WebhookVerificationError, match="header"):
        verify(BODY, header, new_secret(), now=NOW)


def test_secrets_are_prefixed_and_distinct() -> None:
    made = {new_secret() for _ in range(50)}
    assert len(made) == 50
    assert all(s.startswith(SECRET_PREFIX) and len(s) > len(SECRET_PREFIX) + 40 for s in made)


def test_signing_needs_a_secret() -> None:
    with pytest.raises(ValueError, match="at least one secret"):
        sign(BODY, [], NOW)


@given(st.binary(max_size=2000), st.integers(0, 2**40))
def test_any_body_round_trips_and_any_flipped_byte_fails(body: bytes, timestamp: int) -> None:
    secret = new_secret()
    header = sign(body, [secret], timestamp)
    assert verify(body, header, secret, now=timestamp) == timestamp
    if body:
        flipped = bytes([body[0] ^ 1]) + body[1:]
        with pytest.raises(WebhookVerificationError):
            verify(flipped, header, secret, now=timestamp)
