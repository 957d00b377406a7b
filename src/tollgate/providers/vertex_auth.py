"""Google service-account credentials for Vertex AI: validation, and access tokens that are cached.

A ``google_vertex`` credential stores ``secrets: {clientEmail, privateKey, privateKeyId?}``
(PROVIDERS.md A.5, B.4). ``validate_service_account`` runs when the credential is created, so a bad key
is a ``400 invalid_provider_secrets`` then and not a failure at call time. ``TokenSource`` turns the
account into OAuth2 access tokens: it signs an RS256 JWT, exchanges it at the token endpoint through
the upstream ``Transport``, caches the token and refreshes it ``refresh_margin`` (5 minutes) before
it expires. Concurrent callers share one exchange.

The "refreshed once, then a clear error" contract: when Vertex answers ``401`` to a call made with a
cached token, the caller drops that token (``invalidate(token)``), gets a fresh one and retries the
call once; a second ``401`` is a ``VertexAuthError``. ``send_with_token`` does exactly that.

Secrets never leave this module in text: the private key, the signed assertion and the access token
appear in no ``repr``, no error message and no log line.

    UpstreamError
    └── VertexAuthError       502 vertex_auth_failed | vertex_token_unavailable
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import jwt
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from tollgate.core import jsonx
from tollgate.core.clock import Clock
from tollgate.core.errors import BadRequest, UpstreamError
from tollgate.gateway.upstream import Transport, UpstreamRequest, UpstreamResponse, host_of

DEFAULT_TOKEN_URI = "https://oauth2.googleapis.com/token"
# google-auth signs this audience whatever token URI it posts to (PROVIDERS.md A.5).
TOKEN_AUDIENCE = "https://oauth2.googleapis.com/token"
CLOUD_PLATFORM_SCOPE = "https://www.googleapis.com/auth/cloud-platform"
JWT_BEARER_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
MAX_ASSERTION_LIFETIME = 3600  # Google refuses assertions that live longer than an hour
DEFAULT_REFRESH_MARGIN = 300.0
MIN_KEY_BITS = 2048

_SECRET_FIELDS = ("clientEmail", "privateKey", "privateKeyId")
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
_KEY_ID = re.compile(r"[A-Za-z0-9_-]{1,128}")
_OAUTH_ERROR = re.compile(r"[a-z_]{1,64}")
# Token-endpoint answers that mean "these credentials are not accepted", not "try again later".
_REJECTIONS = frozenset({"invalid_grant", "invalid_client", "unauthorized_client", "access_denied"})


class VertexAuthError(UpstreamError):
    """Google would not issue an access token, or Vertex refused a fresh one. Never carries a secret."""

    default_code = "vertex_auth_failed"


def _bad_secrets(message: str, field_name: str) -> BadRequest:
    return BadRequest(message, code="invalid_provider_secrets", details={"field": field_name})


@dataclass(frozen=True, slots=True)
class ServiceAccount:
    """A validated service account. The key object is kept out of ``repr``, equality and hashing."""

    client_email: str
    private_key: RSAPrivateKey = field(repr=False, compare=False)
    private_key_id: str | None = None

    def __repr__(self) -> str:
        kid = f", private_key_id={self.private_key_id!r}" if self.private_key_id else ""
        return f"ServiceAccount(client_email={self.client_email!r}{kid}, private_key=<redacted>)"


def _required_str(secrets: Mapping[str, Any], name: str) -> str:
    value = secrets.get(name)
    if value is None:
        raise _bad_secrets(f"secrets.{name} is required for google_vertex", name)
    if not isinstance(value, str) or not value.strip():
        raise _bad_secrets(f"secrets.{name} must be a non-empty string", name)
    return value.strip()


def _load_private_key(pem: str) -> RSAPrivateKey:
    if "\n" not in pem and "\\n" in pem:
        pem = pem.replace("\\n", "\n")  # a service-account JSON value pasted with its escapes intact
    message = (
        "secrets.privateKey is not a PEM-encoded RSA private key (the service-account JSON's private_key)"
    )
    try:
        key = load_pem_private_key(pem.encode(), password=None)
    except (ValueError, TypeError) as exc:  # the parser's messages may quote the input: not relayed
        raise _bad_secrets(message, "privateKey") from exc
    if not isinstance(key, RSAPrivateKey):
        raise _bad_secrets(message, "privateKey")
    if key.key_size < MIN_KEY_BITS:
        raise _bad_secrets(f"secrets.privateKey must be at least {MIN_KEY_BITS} bits", "privateKey")
    return key


def validate_service_account(secrets: Mapping[str, Any]) -> ServiceAccount:
    """The account in a ``google_vertex`` secrets bundle, or ``400 invalid_provider_secrets``.

    Messages name the field at fault and never echo a value.
    """
    if not isinstance(secrets, Mapping):
        raise _bad_secrets("secrets must be an object {clientEmail, privateKey, privateKeyId?}", "secrets")
    unknown = sorted(str(k) for k in secrets if k not in _SECRET_FIELDS)
    if unknown:
        # Key names are not secret; naming them catches pasted JSON (client_email) and typos.
        raise _bad_secrets(
            f"unknown google_vertex secrets {', '.join(unknown)}; expected clientEmail, privateKey, "
            "privateKeyId",
            unknown[0],
        )
    email = _required_str(secrets, "clientEmail")
    if len(email) > 254 or not _EMAIL.fullmatch(email):
        raise _bad_secrets("secrets.clientEmail is not an email address", "clientEmail")
    key = _load_private_key(_required_str(secrets, "privateKey"))
    key_id = None
    if secrets.get("privateKeyId") is not None:
        key_id = _required_str(secrets, "privateKeyId")
        if not _KEY_ID.fullmatch(key_id):
            raise _bad_secrets("secrets.privateKeyId must be the key's hex id", "privateKeyId")
    return ServiceAccount(email, key, key_id)


@dataclass(frozen=True, slots=True)
class _Cached:
    token: str = field(repr=False)
    refresh_at: float  # the clock's monotonic seconds


class TokenSource:
    """Access tokens for one service account, cached until ``refresh_margin`` before they expire.

    ``token()`` is safe to call from many tasks at once: at most one exchange is in flight and every
    waiter gets its result. A token that lives shorter than twice the margin is refreshed halfway
    through its life instead (so a short ``expires_in`` still caches).
    """

    def __init__(
        self,
        account: ServiceAccount,
        transport: Transport,
        clock: Clock,
        *,
        token_uri: str = DEFAULT_TOKEN_URI,
        refresh_margin: float = DEFAULT_REFRESH_MARGIN,
        lifetime: int = MAX_ASSERTION_LIFETIME,
    ) -> None:
        if not 0 < lifetime <= MAX_ASSERTION_LIFETIME:
            raise ValueError(f"lifetime must be within 1..{MAX_ASSERTION_LIFETIME} seconds")
        self._account = account
        self._transport = transport
        self._clock = clock
        self._token_uri = token_uri
        self._margin = refresh_margin
        self._lifetime = lifetime
        self._cached: _Cached | None = None
        self._lock = asyncio.Lock()
        self.exchanges = 0  # how many times the token endpoint was asked (for metrics and tests)

    def __repr__(self) -> str:
        return f"TokenSource(client_email={self._account.client_email!r}, token_uri={self._token_uri!r})"

    @property
    def client_email(self) -> str:
        return self._account.client_email

    def _fresh(self) -> str | None:
        cached = self._cached
        if cached is not None and self._clock.monotonic() < cached.refresh_at:
            return cached.token
        return None

    async def token(self) -> str:
        """A valid access token: the cached one, or a new one from the token endpoint."""
        token = self._fresh()
        if token is not None:
            return token
        async with self._lock:
            token = self._fresh()  # another task may have refreshed while this one waited
            if token is not None:
                return token
            token, expires_in = await self._exchange()
            margin = min(self._margin, expires_in / 2)
            self._cached = _Cached(token, self._clock.monotonic() + expires_in - margin)
            return token

    def invalidate(self, token: str | None = None) -> None:
        """Forget the cached token (only if it is still ``token``, when given).

        Passing the token that was refused keeps a burst of concurrent ``401``s to one refresh: the
        first caller drops it, the others find a newer token already cached.
        """
        if token is None or (self._cached is not None and self._cached.token == token):
            self._cached = None

    def assertion(self) -> str:
        """The signed JWT for the token endpoint (RS256, ``kid`` = the key id when known)."""
        now = int(self._clock.now().timestamp())
        claims = {
            "iss": self._account.client_email,
            "scope": CLOUD_PLATFORM_SCOPE,
            "aud": TOKEN_AUDIENCE,
            "iat": now,
            "exp": now + self._lifetime,
        }
        headers: dict[str, Any] = {"typ": "JWT"}
        if self._account.private_key_id:
            headers["kid"] = self._account.private_key_id
        return jwt.encode(claims, self._account.private_key, algorithm="RS256", headers=headers)

    async def _exchange(self) -> tuple[str, float]:
        assertion = self.assertion()
        request = UpstreamRequest(
            "POST",
            self._token_uri,
            [("content-type", "application/x-www-form-urlencoded"), ("accept", "application/json")],
            urlencode({"grant_type": JWT_BEARER_GRANT, "assertion": assertion}).encode(),
        )
        self.exchanges += 1
        response = await self._transport(request)
        try:
            body = await response.read()
        finally:
            await response.aclose()
        if response.status != 200:
            raise self._refusal(response.status, body)
        return self._parse_token(body)

    def _parse_token(self, body: bytes) -> tuple[str, float]:
        try:
            data = jsonx.loads(body)
        except jsonx.JSONDecodeError:
            data = None
        token = data.get("access_token") if isinstance(data, dict) else None
        expires_in = data.get("expires_in") if isinstance(data, dict) else None
        if (
            not isinstance(token, str)
            or not token
            or not isinstance(expires_in, int | float)
            or isinstance(expires_in, bool)
            or expires_in <= 0
        ):
            raise VertexAuthError(
                f"the token endpoint at {host_of(self._token_uri)} answered without a usable access token",
                code="vertex_token_unavailable",
            )
        return token, float(expires_in)

    def _refusal(self, status: int, body: bytes) -> VertexAuthError:
        """A clear error from an OAuth error answer. Only the error *code* is relayed: Google's
        descriptions are harmless, but a token endpoint in general may quote what it was sent."""
        try:
            data = jsonx.loads(body)
        except jsonx.JSONDecodeError:
            data = None
        error = data.get("error") if isinstance(data, dict) else None
        oauth_code = error if isinstance(error, str) and _OAUTH_ERROR.fullmatch(error) else None
        who = self._account.client_email
        host = host_of(self._token_uri)
        if status in (400, 401, 403) or oauth_code in _REJECTIONS:
            reason = f" ({oauth_code})" if oauth_code else ""
            return VertexAuthError(
                f"Google refused to issue an access token for service account {who}{reason}: check "
                "that the key is current (not deleted or disabled) and belongs to this account",
                details={"upstream_status": status},
            )
        return VertexAuthError(
            f"the token endpoint at {host} answered {status} for service account {who}",
            code="vertex_token_unavailable",
            details={"upstream_status": status},
        )


async def send_with_token(
    source: TokenSource,
    build: Callable[[str], UpstreamRequest],
    transport: Transport,
) -> UpstreamResponse:
    """Send ``build(token)``; on a ``401`` refresh the token once and resend; a second ``401`` raises.

    Any other status (including ``403``: a permission problem, not a stale token) is returned as is.
    """
    token = await source.token()
    response = await transport(build(token))
    if response.status != 401:
        return response
    await response.aclose()
    source.invalidate(token)
    retry = await transport(build(await source.token()))
    if retry.status != 401:
        return retry
    await retry.aclose()
    raise VertexAuthError(
        f"Vertex AI refused a freshly issued access token for service account {source.client_email}: "
        "check that the account has the Vertex AI User role in this project",
        details={"upstream_status": 401},
    )
