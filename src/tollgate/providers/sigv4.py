"""AWS Signature Version 4 for Bedrock (PROVIDERS.md A.6, B.3): signing requests and checking them.

Hand-written (stdlib ``hmac``/``hashlib``) rather than ``botocore.auth.SigV4Auth``: botocore reads the
clock itself inside ``add_auth`` (``get_current_datetime()``) and offers no parameter for it, and this
module takes the time from its caller like everything else in tollgate. It follows botocore's
canonicalisation rule for rule, and the tests sign the same requests with botocore and compare the
``Authorization`` header byte for byte.

The parts that trip people up, all handled here:

- the service in the scope is ``bedrock``, not ``bedrock-runtime``;
- the path is sent percent-encoded (a model id ``…-v2:0`` is ``…-v2%3A0`` on the wire) and the
  canonical URI encodes it *again* (``%253A``), see ``bedrock_path``;
- every header sent at signing time is signed except the hop-by-hop ones botocore skips; ``host`` and
  ``x-amz-date`` always are, ``x-amz-security-token`` too when the credentials are temporary.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import quote, urlsplit

from tollgate.core.errors import Forbidden

ALGORITHM = "AWS4-HMAC-SHA256"
SERVICE = "bedrock"
MAX_SKEW = timedelta(minutes=5)  # what AWS tolerates between the signer's clock and its own
_TIMESTAMP = "%Y%m%dT%H%M%SZ"
# botocore's SIGNED_HEADERS_BLACKLIST plus the Authorization header itself.
_UNSIGNED = frozenset(
    {
        "authorization",
        "baggage",
        "connection",
        "expect",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "traceparent",
        "tracestate",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "user-agent",
        "x-amzn-trace-id",
    }
)
_DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True, slots=True)
class AwsCredentials:
    """``secrets: {accessKeyId, secretAccessKey, sessionToken?}`` of a Bedrock credential."""

    access_key_id: str
    secret_access_key: str
    session_token: str | None = None

    def __repr__(self) -> str:  # never print the secret
        return f"AwsCredentials(access_key_id={self.access_key_id!r}, secret_access_key='***')"


def bedrock_path(model_id: str, operation: str) -> str:
    """``/model/{modelId}/{operation}`` with the id encoded the way the AWS SDKs do (``:`` and ``/`` too)."""
    return f"/model/{quote(model_id, safe='-._~')}/{operation}"


def _remove_dot_segments(path: str) -> str:
    """botocore's ``normalize_url_path``: drop ``.``/empty segments, resolve ``..``, keep a trailing ``/``."""
    if not path:
        return "/"
    out: list[str] = []
    for segment in path.split("/"):
        if segment == "..":
            if out:
                out.pop()
        elif segment and segment != ".":
            out.append(segment)
    first = "/" if path.startswith("/") else ""
    last = "/" if path.endswith("/") and out else ""
    return first + "/".join(out) + last


def canonical_uri(path: str) -> str:
    """The canonical URI of an already percent-encoded path: encoded once more (``%3A`` -> ``%253A``)."""
    return quote(_remove_dot_segments(path), safe="/~")


def _canonical_query(query: str) -> str:
    pairs = sorted(pair.partition("=")[::2] for pair in query.split("&")) if query else []
    return "&".join(f"{key}={value}" for key, value in pairs)


def _host(url: str) -> str:
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    if parts.port is not None and parts.port != _DEFAULT_PORTS.get(parts.scheme):
        host = f"{host}:{parts.port}"
    return host


def canonical_request(
    method: str,
    path: str,
    query: str,
    headers: Mapping[str, str],
    signed: Iterable[str],
    payload_hash: str,
) -> str:
    """The canonical request; ``headers`` are keyed by lower-case name, ``signed`` are names to include."""
    names = sorted(set(signed))
    lines = [f"{name}:{' '.join(headers[name].split())}" for name in names]
    return "\n".join(
        (
            method.upper(),
            canonical_uri(path),
            _canonical_query(query),
            "\n".join(lines) + "\n",
            ";".join(names),
            payload_hash,
        )
    )


def _hmac(key: bytes, message: str) -> bytes:
    return hmac.new(key, message.encode(), hashlib.sha256).digest()


def signature(secret: str, timestamp: str, region: str, service: str, canonical: str) -> str:
    """The hex signature of a canonical request at ``timestamp`` (``YYYYMMDDTHHMMSSZ``)."""
    date = timestamp[:8]
    scope = f"{date}/{region}/{service}/aws4_request"
    to_sign = "\n".join((ALGORITHM, timestamp, scope, hashlib.sha256(canonical.encode()).hexdigest()))
    key = _hmac(_hmac(_hmac(_hmac(f"AWS4{secret}".encode(), date), region), service), "aws4_request")
    return hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()


def sign_request(
    method: str,
    url: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    credentials: AwsCredentials,
    region: str,
    now: datetime,
    service: str = SERVICE,
) -> dict[str, str]:
    """The headers to add to a request about to be sent (the URL's path already percent-encoded).

    Returns ``authorization``, ``x-amz-date`` and, for temporary credentials, ``x-amz-security-token``.
    Every header in ``headers`` is signed (except hop-by-hop ones), so send them unchanged.
    """
    if now.tzinfo is None:
        raise ValueError("sign_request needs a timezone-aware time")
    timestamp = now.astimezone(UTC).strftime(_TIMESTAMP)
    added = {"x-amz-date": timestamp}
    if credentials.session_token:
        added["x-amz-security-token"] = credentials.session_token
    lowered = {name.lower(): value for name, value in headers.items() if name.lower() not in added}
    lowered.setdefault("host", _host(url))
    lowered.update(added)
    signed = [name for name in lowered if name not in _UNSIGNED]
    parts = urlsplit(url)
    canonical = canonical_request(
        method, parts.path, parts.query, lowered, signed, hashlib.sha256(body).hexdigest()
    )
    sig = signature(credentials.secret_access_key, timestamp, region, service, canonical)
    scope = f"{credentials.access_key_id}/{timestamp[:8]}/{region}/{service}/aws4_request"
    added["authorization"] = (
        f"{ALGORITHM} Credential={scope}, SignedHeaders={';'.join(sorted(signed))}, Signature={sig}"
    )
    return added


class SignatureRejected(Forbidden):
    """A SigV4-signed request that does not check out. ``aws_type`` is the exception AWS names."""

    default_code = "signature_rejected"

    def __init__(self, message: str, *, reason: str, aws_type: str = "InvalidSignatureException") -> None:
        super().__init__(message, details={"reason": reason})
        self.reason = reason
        self.aws_type = aws_type


@dataclass(frozen=True, slots=True)
class _Authorization:
    access_key_id: str
    date: str
    region: str
    service: str
    terminator: str
    signed: tuple[str, ...]
    signature: str


def _parse_authorization(value: str) -> _Authorization:
    algorithm, _, rest = value.strip().partition(" ")
    if algorithm != ALGORITHM:
        raise SignatureRejected(
            f"Authorization header requires the {ALGORITHM} algorithm",
            reason="malformed_authorization",
            aws_type="IncompleteSignatureException",
        )
    fields = dict(part.strip().partition("=")[::2] for part in rest.split(","))
    scope = fields.get("Credential", "").split("/")
    if len(scope) != 5 or not fields.get("SignedHeaders") or not fields.get("Signature"):
        raise SignatureRejected(
            "Authorization header requires 'Credential', 'SignedHeaders' and 'Signature' parameters",
            reason="malformed_authorization",
            aws_type="IncompleteSignatureException",
        )
    key, date, region, service, terminator = scope
    signed = tuple(fields["SignedHeaders"].split(";"))
    return _Authorization(key, date, region, service, terminator, signed, fields["Signature"])


def _check_scope(auth: _Authorization, region: str, service: str) -> None:
    for got, want, what in ((auth.region, region, "region"), (auth.service, service, "service")):
        if got != want:
            raise SignatureRejected(
                f"Credential should be scoped to a valid {what}, not '{got}'; expected '{want}'.",
                reason=f"wrong_{what}",
            )
    if auth.terminator != "aws4_request":
        raise SignatureRejected(
            "Credential should be scoped with a valid terminator: 'aws4_request'.", reason="wrong_scope"
        )


def _check_date(stamp: str, auth: _Authorization, now: datetime, max_skew: timedelta) -> None:
    try:
        when = datetime.strptime(stamp, _TIMESTAMP).replace(tzinfo=UTC)
    except ValueError:
        raise SignatureRejected(
            f"X-Amz-Date '{stamp}' is not in the form YYYYMMDDTHHMMSSZ", reason="malformed_date"
        ) from None
    if stamp[:8] != auth.date:
        raise SignatureRejected(
            f"Date in Credential scope does not match YYYYMMDD from X-Amz-Date: {auth.date} != {stamp[:8]}",
            reason="wrong_date",
        )
    if abs(now - when) > max_skew:
        early = when < now
        bound = now - max_skew if early else now + max_skew
        raise SignatureRejected(
            f"Signature {'expired' if early else 'not yet current'}: {stamp} is now "
            f"{'earlier' if early else 'later'} than {bound:%Y%m%dT%H%M%SZ} "
            f"({now:%Y%m%dT%H%M%SZ} {'-' if early else '+'} {int(max_skew.total_seconds() // 60)} min.)",
            reason="stale_date",
        )


def verify_sigv4(
    method: str,
    path: str,
    query: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    secrets: Mapping[str, str],
    region: str | None,
    now: datetime,
    service: str = SERVICE,
    max_skew: timedelta = MAX_SKEW,
) -> str:
    """Check a received request's SigV4 signature; return the access key id that signed it.

    ``path`` is the path as sent (percent-encoded), ``headers`` are keyed by lower-case name and
    ``secrets`` maps access key ids to secret keys; ``region=None`` accepts the region the signer
    scoped to (the simulator does not know which region its client thinks it is in).

    Raises ``SignatureRejected`` saying why: a missing or malformed ``Authorization``, an unknown
    key, a scope for another region or service, a required header not signed or not sent, a date
    more than ``max_skew`` away from ``now``, a bad signature.
    """
    value = headers.get("authorization")
    if not value:
        raise SignatureRejected(
            "Missing Authentication Token",
            reason="missing_authorization",
            aws_type="MissingAuthenticationTokenException",
        )
    auth = _parse_authorization(value)
    secret = secrets.get(auth.access_key_id)
    if secret is None:
        raise SignatureRejected(
            "The security token included in the request is invalid.",
            reason="unknown_access_key",
            aws_type="UnrecognizedClientException",
        )
    region = auth.region if region is None else region
    _check_scope(auth, region, service)
    for name in ("host", "x-amz-date"):
        if name not in auth.signed:
            raise SignatureRejected(f"'{name}' must be a signed header", reason="missing_signed_header")
    missing = [name for name in auth.signed if name not in headers]
    if missing:
        raise SignatureRejected(
            f"signed header(s) not present in the request: {', '.join(missing)}",
            reason="missing_signed_header",
        )
    _check_date(headers["x-amz-date"], auth, now, max_skew)
    canonical = canonical_request(method, path, query, headers, auth.signed, hashlib.sha256(body).hexdigest())
    expected = signature(secret, headers["x-amz-date"], region, service, canonical)
    if not hmac.compare_digest(expected, auth.signature):
        raise SignatureRejected(
            "The request signature we calculated does not match the signature you provided. "
            "Check your AWS Secret Access Key and signing method.",
            reason="bad_signature",
        )
    return auth.access_key_id
