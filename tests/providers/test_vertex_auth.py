"""Vertex service-account auth: validation at credential creation, JWT signing, token caching and refresh."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from tests.support.upstream import FakeResponse
from tollgate.core.clock import FakeClock
from tollgate.core.errors import BadRequest, UpstreamError
from tollgate.gateway.upstream import UpstreamRequest, UpstreamResponse
from tollgate.providers.vertex_auth import (
    CLOUD_PLATFORM_SCOPE,
    JWT_BEARER_GRANT,
    TOKEN_AUDIENCE,
    ServiceAccount,
    TokenSource,
    VertexAuthError,
    send_with_token,
    validate_service_account,
)

EMAIL = "tollgate@my-project.iam.gserviceaccount.com"
KEY_ID = "0123456789abcdef0123456789abcdef01234567"


def _pem(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def secrets(rsa_key: rsa.RSAPrivateKey) -> dict[str, str]:
    return {"clientEmail": EMAIL, "privateKey": _pem(rsa_key), "privateKeyId": KEY_ID}


@pytest.fixture(scope="module")
def account(secrets: dict[str, str]) -> ServiceAccount:
    return validate_service_account(secrets)


class TokenEndpoint:
    """A transport that answers token requests from a script (default: a fresh token each time)."""

    def __init__(self, *answers: tuple[int, Any], expires_in: int = 3599) -> None:
        self.requests: list[UpstreamRequest] = []
        self._answers = list(answers)
        self._expires_in = expires_in
        self.gate: asyncio.Event | None = None

    async def __call__(self, request: UpstreamRequest) -> UpstreamResponse:
        self.requests.append(request)
        if self.gate is not None:
            await self.gate.wait()
        if self._answers:
            return FakeResponse(*self._answers.pop(0))
        token = f"ya29.token-{len(self.requests)}"
        return FakeResponse(
            200, {"access_token": token, "expires_in": self._expires_in, "token_type": "Bearer"}
        )

    def assertion(self, index: int = -1) -> str:
        body = self.requests[index].body
        assert body is not None
        return parse_qs(body.decode())["assertion"][0]


# -- validation: a bad key is a 400 at credential creation ------------------------------------


def test_valid_secrets_give_an_account_whose_repr_hides_the_key(
    secrets: dict[str, str], account: ServiceAccount
) -> None:
    assert account.client_email == EMAIL and account.private_key_id == KEY_ID
    assert "PRIVATE KEY" not in repr(account) and "redacted" in repr(account)
    assert (
        validate_service_account({k: v for k, v in secrets.items() if k != "privateKeyId"}).private_key_id
        is None
    )


def test_a_pasted_key_with_escaped_newlines_is_accepted(secrets: dict[str, str]) -> None:
    escaped = secrets["privateKey"].replace("\n", "\\n")
    assert validate_service_account({**secrets, "privateKey": escaped}).client_email == EMAIL


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"clientEmail": None}, "clientEmail"),
        ({"privateKey": None}, "privateKey"),
        ({"privateKey": "  "}, "privateKey"),
        ({"privateKey": 42}, "privateKey"),
        (
            {"privateKey": "-----BEGIN PRIVATE KEY-----\nnot really a key\n-----END PRIVATE KEY-----\n"},
            "privateKey",
        ),
        ({"clientEmail": "not-an-email"}, "clientEmail"),
        ({"clientEmail": "a@b"}, "clientEmail"),
        ({"privateKeyId": "has spaces/and slashes"}, "privateKeyId"),
        ({"client_email": EMAIL}, "client_email"),
    ],
)
def test_bad_secrets_are_400_invalid_provider_secrets_naming_the_field(
    secrets: dict[str, str], change: dict[str, Any], field: str
) -> None:
    bundle = {k: v for k, v in {**secrets, **change}.items() if v is not None}
    with pytest.raises(BadRequest) as caught:
        validate_service_account(bundle)
    assert caught.value.code == "invalid_provider_secrets" and caught.value.http_status == 400
    assert caught.value.details["field"] == field
    assert "not really a key" not in caught.value.message and "PRIVATE KEY" not in caught.value.message


def test_non_rsa_and_short_keys_are_refused(secrets: dict[str, str]) -> None:
    for key in (
        ec.generate_private_key(ec.SECP256R1()),
        rsa.generate_private_key(public_exponent=65537, key_size=1024),
    ):
        with pytest.raises(BadRequest) as caught:
            validate_service_account({**secrets, "privateKey": _pem(key)})
        assert caught.value.code == "invalid_provider_secrets"


def test_secrets_must_be_an_object() -> None:
    with pytest.raises(BadRequest):
        validate_service_account("a string")  # type: ignore[arg-type]


# -- signing ---------------------------------------------------------------------------------


async def test_the_assertion_is_an_rs256_jwt_with_googles_claims(
    account: ServiceAccount, rsa_key: rsa.RSAPrivateKey
) -> None:
    clock, endpoint = FakeClock(), TokenEndpoint()
    source = TokenSource(account, endpoint, clock, token_uri="http://127.0.0.1:9/token")
    assert await source.token() == "ya29.token-1"
    request = endpoint.requests[0]
    assert (request.method, request.url) == ("POST", "http://127.0.0.1:9/token")
    assert ("content-type", "application/x-www-form-urlencoded") in request.headers
    assert request.body is not None
    assert parse_qs(request.body.decode())["grant_type"] == [JWT_BEARER_GRANT]
    assertion = endpoint.assertion()
    assert jwt.get_unverified_header(assertion) == {"alg": "RS256", "typ": "JWT", "kid": KEY_ID}
    claims = jwt.decode(
        assertion,
        rsa_key.public_key(),
        algorithms=["RS256"],
        audience=TOKEN_AUDIENCE,
        options={"verify_exp": False, "verify_iat": False},
    )
    now = int(clock.now().timestamp())
    assert claims == {
        "iss": EMAIL,
        "scope": CLOUD_PLATFORM_SCOPE,
        "aud": TOKEN_AUDIENCE,
        "iat": now,
        "exp": now + 3600,
    }


# -- caching and refresh ----------------------------------------------------------------------


async def test_one_exchange_serves_many_calls_until_five_minutes_before_expiry(
    account: ServiceAccount,
) -> None:
    clock, endpoint = FakeClock(), TokenEndpoint()
    source = TokenSource(account, endpoint, clock)
    assert {await source.token() for _ in range(10)} == {"ya29.token-1"}
    clock.advance(3599 - 300 - 1)
    assert await source.token() == "ya29.token-1"
    clock.advance(1)
    assert await source.token() == "ya29.token-2"
    assert len(endpoint.requests) == source.exchanges == 2


async def test_a_short_lived_token_is_refreshed_halfway(account: ServiceAccount) -> None:
    clock, endpoint = FakeClock(), TokenEndpoint(expires_in=120)
    source = TokenSource(account, endpoint, clock)
    await source.token()
    clock.advance(59)
    assert await source.token() == "ya29.token-1"
    clock.advance(1)
    assert await source.token() == "ya29.token-2"


async def test_concurrent_callers_share_one_refresh(account: ServiceAccount) -> None:
    clock, endpoint = FakeClock(), TokenEndpoint()
    endpoint.gate = asyncio.Event()
    source = TokenSource(account, endpoint, clock)
    waiters = [asyncio.create_task(source.token()) for _ in range(20)]
    await asyncio.sleep(0)
    endpoint.gate.set()
    assert set(await asyncio.gather(*waiters)) == {"ya29.token-1"}
    assert len(endpoint.requests) == 1


async def test_invalidate_drops_only_the_refused_token(account: ServiceAccount) -> None:
    clock, endpoint = FakeClock(), TokenEndpoint()
    source = TokenSource(account, endpoint, clock)
    first = await source.token()
    source.invalidate(first)
    second = await source.token()
    source.invalidate(first)  # a late 401 for the old token must not throw the new one away
    assert await source.token() == second == "ya29.token-2"
    source.invalidate()
    assert await source.token() == "ya29.token-3"


# -- refusals: clear errors without secrets ---------------------------------------------------


def _assert_no_secrets(error: Exception, secrets: dict[str, str], endpoint: TokenEndpoint) -> None:
    text = f"{error} {error!r} {getattr(error, 'details', '')}"
    assert endpoint.assertion() not in text
    assert secrets["privateKey"].splitlines()[1] not in text


@pytest.mark.parametrize("status", [400, 401])
async def test_invalid_grant_is_a_clear_vertex_auth_failed_error(
    account: ServiceAccount, secrets: dict[str, str], status: int
) -> None:
    endpoint = TokenEndpoint(
        (status, {"error": "invalid_grant", "error_description": "Invalid JWT Signature."})
    )
    source = TokenSource(account, endpoint, FakeClock())
    with pytest.raises(VertexAuthError) as caught:
        await source.token()
    error = caught.value
    assert issubclass(VertexAuthError, UpstreamError)
    assert error.code == "vertex_auth_failed" and error.http_status == 502
    assert EMAIL in error.message and "invalid_grant" in error.message
    _assert_no_secrets(error, secrets, endpoint)


async def test_an_echoing_endpoint_cannot_leak_the_assertion(
    account: ServiceAccount, secrets: dict[str, str]
) -> None:
    class Echo(TokenEndpoint):
        async def __call__(self, request: UpstreamRequest) -> UpstreamResponse:
            self.requests.append(request)
            return FakeResponse(
                401, {"error": "invalid_client", "error_description": (request.body or b"").decode()}
            )

    endpoint = Echo()
    with pytest.raises(VertexAuthError) as caught:
        await TokenSource(account, endpoint, FakeClock()).token()
    _assert_no_secrets(caught.value, secrets, endpoint)


@pytest.mark.parametrize(
    "answer",
    [
        (503, {"error": {"code": 503}}),
        (200, {"token_type": "Bearer"}),
        (200, b"<html>"),
        (200, {"access_token": "x", "expires_in": 0}),
    ],
)
async def test_an_unusable_answer_is_vertex_token_unavailable(
    account: ServiceAccount, answer: tuple[int, Any]
) -> None:
    source = TokenSource(account, TokenEndpoint(answer), FakeClock())
    with pytest.raises(VertexAuthError) as caught:
        await source.token()
    assert caught.value.code == "vertex_token_unavailable"
    assert await source.token() == "ya29.token-2"  # nothing bad was cached


def test_reprs_hide_the_token(account: ServiceAccount) -> None:
    source = TokenSource(account, TokenEndpoint(), FakeClock())
    assert asyncio.run(source.token()) == "ya29.token-1"
    assert "ya29" not in repr(source) and EMAIL in repr(source)


def test_lifetime_is_at_most_an_hour(account: ServiceAccount) -> None:
    with pytest.raises(ValueError, match="lifetime"):
        TokenSource(account, TokenEndpoint(), FakeClock(), lifetime=3601)


# -- refreshed once, then a clear error ------------------------------------------------------


def _vertex(*statuses: int) -> tuple[list[str], Callable[[UpstreamRequest], Awaitable[UpstreamResponse]]]:
    seen: list[str] = []
    script = list(statuses)

    async def transport(request: UpstreamRequest) -> UpstreamResponse:
        seen.append(dict(request.headers)["authorization"])
        return FakeResponse(script.pop(0), {})

    return seen, transport


def _build(token: str) -> UpstreamRequest:
    return UpstreamRequest(
        "POST", "https://us-central1-aiplatform.googleapis.com/v1/x", [("authorization", f"Bearer {token}")]
    )


async def test_a_401_refreshes_once_and_retries(account: ServiceAccount) -> None:
    endpoint = TokenEndpoint()
    source = TokenSource(account, endpoint, FakeClock())
    seen, transport = _vertex(401, 200)
    response = await send_with_token(source, _build, transport)
    assert response.status == 200
    assert seen == ["Bearer ya29.token-1", "Bearer ya29.token-2"]


async def test_a_second_401_is_a_clear_error(account: ServiceAccount) -> None:
    source = TokenSource(account, TokenEndpoint(), FakeClock())
    seen, transport = _vertex(401, 401, 200)
    with pytest.raises(VertexAuthError) as caught:
        await send_with_token(source, _build, transport)
    assert len(seen) == 2 and caught.value.code == "vertex_auth_failed"
    assert (
        "ya29" not in caught.value.message and "refused a freshly issued access token" in caught.value.message
    )


async def test_a_403_is_returned_without_a_refresh(account: ServiceAccount) -> None:
    endpoint = TokenEndpoint()
    source = TokenSource(account, endpoint, FakeClock())
    seen, transport = _vertex(403)
    assert (await send_with_token(source, _build, transport)).status == 403
    assert len(endpoint.requests) == 1 and len(seen) == 1
