"""Google Vertex AI (PROVIDERS.md A.5): the OAuth token endpoint, Gemini and Claude on Vertex.

One ``VertexUpstream`` per simulator holds the Vertex state: the registered public keys, the access
tokens it issued and their expiry (judged by the simulator's clock, through ``Call.created``).

Token endpoint (``POST /token`` under its own prefix): a form with
``grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer`` and ``assertion=<RS256 JWT>``. The
assertion must carry ``aud`` = ``https://oauth2.googleapis.com/token``, the ``cloud-platform`` scope,
an ``iss``, and an ``iat``/``exp`` window of at most an hour that contains now. Its signature is
verified against ``public_keys[iss]``; **when no public key is registered at all, any structurally
valid RS256 assertion is accepted** (so any test key works), but once one is registered,
an unknown ``iss`` is refused too. Refusals are Google's OAuth shape, ``400 {"error": "invalid_grant",
"error_description"}``. The answer is ``{access_token, expires_in, token_type: "Bearer"}`` with
``expires_in`` from the attribute of that name (3599 by default).

API (``/v1|v1beta1/projects/{p}/locations/{l}/publishers/{google|anthropic}/models/{m}:{action}``):
every call needs ``Authorization: Bearer <a token this upstream issued, not yet expired>``, else a
Google-shaped ``401 UNAUTHENTICATED``. Gemini's ``generateContent``, ``streamGenerateContent`` and
``countTokens`` are the Gemini API handlers. Claude's ``rawPredict``/``streamRawPredict`` are the
Anthropic Messages handlers, fed the Vertex body: ``anthropic_version`` is required *in the body*
and ``model`` must not be there (it comes from the URL); ``count-tokens:rawPredict`` counts tokens.
Scenario knobs apply as for every provider (error knobs answer in Google's shape); ``revoke_token``
revokes the presented token first, so the call is the ``401`` an expired or revoked token gets and
only a client that fetches a new token recovers (``revoke_all()`` does it to every issued token).
Token requests take queued scenarios too: queue one for the API with ``provider="google_vertex"``.
"""

from __future__ import annotations

import dataclasses
import secrets
from functools import partial
from typing import Any
from urllib.parse import parse_qs

import jwt

from tollgate.core import jsonx
from tollgate.testing._anthropic import count_tokens as claude_count_tokens
from tollgate.testing._anthropic import create_message
from tollgate.testing._errors import ErrorStyle, bad_request, error_reply
from tollgate.testing._gemini import count_tokens as gemini_count_tokens
from tollgate.testing._gemini import generate_content
from tollgate.testing._types import Call, Handler, ReceivedRequest, Reply, StreamPlan

TOKEN_PATH = "/token"
TOKEN_AUDIENCE = "https://oauth2.googleapis.com/token"
CLOUD_PLATFORM_SCOPE = "https://www.googleapis.com/auth/cloud-platform"
JWT_BEARER_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
MAX_ASSERTION_LIFETIME = 3600
CLOCK_SKEW = 60  # seconds of iat in the future that Google tolerates
_VERSIONS = ("v1", "v1beta1")
_UNAUTHENTICATED = (
    "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or "
    "other valid authentication credential. See "
    "https://developers.google.com/identity/sign-in/web/devconsole-project."
)


def form_assertion(request: ReceivedRequest) -> str | None:
    """The ``assertion`` of a token request's form body: what the token endpoint authenticates with."""
    if not request.body:
        return None
    form = parse_qs(request.body.decode("latin-1"))
    return next(iter(form.get("assertion", ())), None) or None


def _oauth_error(error: str, description: str, status: int = 400) -> Reply:
    return Reply(status, jsonx.dumps({"error": error, "error_description": description}))


def _bearer(call: Call) -> str | None:
    scheme, _, token = (call.request.header("authorization") or "").partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


class VertexUpstream:
    """The Vertex half of a simulator. ``public_keys`` maps a service account's client email to its
    public key PEM; ``expires_in`` is what the token endpoint grants (lower it to test refreshes)."""

    def __init__(self, *, expires_in: int = 3599) -> None:
        self.public_keys: dict[str, str] = {}
        self.expires_in = expires_in
        self.issued = 0  # tokens handed out so far
        self._tokens: dict[str, int] = {}  # access token -> unix second it expires at

    def __repr__(self) -> str:
        return f"VertexUpstream(accounts={sorted(self.public_keys)}, issued={self.issued})"

    def revoke_all(self) -> None:
        """Forget every issued token: the next API call with any of them answers 401."""
        self._tokens.clear()

    # -- the token endpoint ------------------------------------------------------------------

    def resolve_token(self, method: str, rest: str) -> Handler | None:
        return self._token if (method, rest) == ("POST", TOKEN_PATH) else None

    def _token(self, call: Call) -> Reply:
        content_type = call.request.header("content-type") or ""
        if not content_type.startswith("application/x-www-form-urlencoded"):
            return _oauth_error("invalid_request", "Expected a form-encoded body.")
        form = parse_qs(call.request.body.decode("latin-1"))
        grant = next(iter(form.get("grant_type", ())), None)
        if grant != JWT_BEARER_GRANT:
            return _oauth_error("unsupported_grant_type", f"Invalid grant_type: {grant or ''}")
        problem = self._check_assertion(form_assertion(call.request) or "", call.created)
        if problem is not None:
            return _oauth_error("invalid_grant", problem)
        token = f"ya29.sim-{secrets.token_urlsafe(24)}"
        # Expired tokens are dropped here so a long-running demo does not accumulate them.
        live = {known: at for known, at in self._tokens.items() if at > call.created}
        live[token] = call.created + self.expires_in
        self._tokens = live
        self.issued += 1
        return Reply(
            200,
            jsonx.dumps({"access_token": token, "expires_in": self.expires_in, "token_type": "Bearer"}),
        )

    def _check_assertion(self, assertion: str, now: int) -> str | None:
        """Why the assertion is refused (Google's wording where known), or None."""
        try:
            header = jwt.get_unverified_header(assertion)
            claims: dict[str, Any] = jwt.decode(assertion, options={"verify_signature": False})
        except jwt.PyJWTError:
            return "Invalid JWT: the assertion is not a well-formed JWT."
        if header.get("alg") != "RS256":
            return "Invalid JWT: only RS256 is accepted."
        issuer = claims.get("iss")
        if not isinstance(issuer, str) or not issuer:
            return "Invalid JWT: missing iss."
        if self.public_keys:
            public = self.public_keys.get(issuer)
            if public is None:
                return "Invalid JWT Signature."
            try:
                # Time claims are judged below against the simulator's clock, not the wall clock.
                jwt.decode(
                    assertion,
                    public,
                    algorithms=["RS256"],
                    options={
                        "verify_exp": False,
                        "verify_iat": False,
                        "verify_nbf": False,
                        "verify_aud": False,
                    },
                )
            except jwt.PyJWTError:
                return "Invalid JWT Signature."
        return _claims_problem(claims, now)

    # -- the API -----------------------------------------------------------------------------

    def resolve_api(self, method: str, rest: str) -> Handler | None:
        parts = rest.split("/")
        if method != "POST" or len(parts) != 10 or parts[0] or parts[1] not in _VERSIONS:
            return None
        if (parts[2], parts[4], parts[6], parts[8]) != ("projects", "locations", "publishers", "models"):
            return None
        model, colon, action = parts[9].partition(":")
        if not colon or not model or not parts[3] or not parts[5]:
            return None
        handler = _route(parts[7], model, action)
        return None if handler is None else partial(self._authorized, handler=handler)

    def _authorized(self, call: Call, handler: Handler) -> Reply | StreamPlan:
        token = _bearer(call)
        if token and call.scenario.revoke_token:
            self._tokens.pop(token, None)
        expires = self._tokens.get(token) if token else None
        if expires is None or call.created >= expires:
            return error_reply(ErrorStyle.GEMINI, 401, _UNAUTHENTICATED)
        return handler(call)


def _claims_problem(claims: dict[str, Any], now: int) -> str | None:
    if claims.get("aud") != TOKEN_AUDIENCE:
        return "Invalid JWT: aud must be https://oauth2.googleapis.com/token."
    scope = claims.get("scope")
    if not isinstance(scope, str) or CLOUD_PLATFORM_SCOPE not in scope.split():
        return "Invalid JWT: the cloud-platform scope is required."
    iat, exp = claims.get("iat"), claims.get("exp")
    if not isinstance(iat, int) or not isinstance(exp, int):
        return "Invalid JWT: iat and exp are required."
    if exp - iat > MAX_ASSERTION_LIFETIME or iat > now + CLOCK_SKEW or exp <= now:
        return (
            "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. "
            "Check your iat and exp values in the JWT claim."
        )
    return None


def _route(publisher: str, model: str, action: str) -> Handler | None:
    if publisher == "google":
        if action == "generateContent":
            return partial(generate_content, model=model, stream=False)
        if action == "streamGenerateContent":
            return partial(generate_content, model=model, stream=True)
        if action == "countTokens":
            return partial(gemini_count_tokens, model=model)
        return None
    if publisher != "anthropic":
        return None
    if model == "count-tokens":
        return _claude_count_tokens if action == "rawPredict" else None
    if action == "rawPredict":
        return partial(_claude, model=model, stream=False)
    if action == "streamRawPredict":
        return partial(_claude, model=model, stream=True)
    return None


_CLAUDE = ErrorStyle.ANTHROPIC


def _as_messages_call(call: Call, body: dict[str, Any], version: str) -> Call:
    """The call the Anthropic Messages handlers would have got: version as a header, Messages body.
    The recorded request (``Simulator.received``) stays the one Vertex received."""
    request = dataclasses.replace(
        call.request,
        headers={**call.request.headers, "anthropic-version": version},
        body=jsonx.dumps(body),
        json=body,
    )
    return dataclasses.replace(call, request=request)


def _version(call: Call) -> str | Reply:
    if not isinstance(call.request.json, dict):
        return bad_request(_CLAUDE, "There was an issue with your request body: it is not valid JSON.")
    version = call.body.get("anthropic_version")
    if not isinstance(version, str) or not version:
        return bad_request(_CLAUDE, "anthropic_version: Field required")
    return version


def _claude(call: Call, model: str, stream: bool) -> Reply | StreamPlan:
    version = _version(call)
    if isinstance(version, Reply):
        return version
    if "model" in call.body:
        return bad_request(_CLAUDE, "model: Extra inputs are not permitted")
    body = {k: v for k, v in call.body.items() if k != "anthropic_version"}
    body["model"] = model
    if stream:
        body["stream"] = True
    return create_message(_as_messages_call(call, body, version))


def _claude_count_tokens(call: Call) -> Reply:
    version = _version(call)
    if isinstance(version, Reply):
        return version
    body = {k: v for k, v in call.body.items() if k != "anthropic_version"}
    return claude_count_tokens(_as_messages_call(call, body, version))
