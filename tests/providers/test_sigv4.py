"""SigV4 for Bedrock: byte-for-byte agreement with botocore, the double-encoded path, and verification."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from hypothesis import given, settings
from hypothesis import strategies as st

from tollgate.providers.sigv4 import (
    AwsCredentials,
    SignatureRejected,
    bedrock_path,
    canonical_uri,
    sign_request,
    verify_sigv4,
)

HOST = "https://bedrock-runtime.us-east-1.amazonaws.com"
MODEL = "anthropic.claude-3-5-sonnet-20240620-v1:0"
BODY = b'{"messages":[{"role":"user","content":[{"text":"hi"}]}]}'
CREDS = AwsCredentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
TEMP = AwsCredentials("ASIAEXAMPLE", "tempSecret/Key", "IQoJb3JpZ2luX2VjEXAMPLE//token==")


def _botocore(
    url: str, headers: dict[str, str], body: bytes, creds: AwsCredentials, region: str
) -> tuple[datetime, dict[str, str]]:
    """What botocore signs at its own "now", and that now (read back from X-Amz-Date)."""
    request = AWSRequest("POST", url, data=body, headers=headers)
    credentials = Credentials(creds.access_key_id, creds.secret_access_key, creds.session_token)
    SigV4Auth(credentials, "bedrock", region).add_auth(request)
    stamp = request.headers["X-Amz-Date"]
    now = datetime.strptime(stamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    return now, {name.lower(): value for name, value in request.headers.items()}


@pytest.mark.parametrize(
    ("model", "creds", "region", "extra"),
    [
        (MODEL, CREDS, "us-east-1", {}),
        (MODEL, TEMP, "eu-west-3", {"X-Custom": "  a   b  "}),
        ("us.anthropic.claude-sonnet-4-20250514-v1:0", CREDS, "us-west-2", {"Accept": "application/json"}),
        (
            "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.meta.llama3-3-70b-instruct-v1:0",
            TEMP,
            "us-east-1",
            {"User-Agent": "tollgate/0.1"},
        ),
    ],
)
def test_signature_matches_botocore_byte_for_byte(
    model: str, creds: AwsCredentials, region: str, extra: dict[str, str]
) -> None:
    url = HOST + bedrock_path(model, "converse-stream")
    headers = {"Content-Type": "application/json", **extra}
    now, theirs = _botocore(url, headers, BODY, creds, region)
    ours = sign_request("POST", url, headers, BODY, credentials=creds, region=region, now=now)
    assert ours["authorization"] == theirs["authorization"]
    assert ours["x-amz-date"] == theirs["x-amz-date"]
    assert ours.get("x-amz-security-token") == theirs.get("x-amz-security-token") == creds.session_token
    assert "/bedrock/aws4_request" in ours["authorization"]


def test_the_path_is_encoded_once_on_the_wire_and_twice_in_the_canonical_request() -> None:
    path = bedrock_path(MODEL, "converse")
    assert path == "/model/anthropic.claude-3-5-sonnet-20240620-v1%3A0/converse"
    assert canonical_uri(path) == "/model/anthropic.claude-3-5-sonnet-20240620-v1%253A0/converse"
    assert bedrock_path("arn:aws:x/y", "converse") == "/model/arn%3Aaws%3Ax%2Fy/converse"


@given(st.text(min_size=1, max_size=40), st.sampled_from(["us-east-1", "ap-south-1"]))
@settings(max_examples=40, deadline=None)
def test_any_model_id_signs_like_botocore_and_verifies(model: str, region: str) -> None:
    url = "http://127.0.0.1:8123/bedrock" + bedrock_path(model, "converse")
    now, theirs = _botocore(url, {"Content-Type": "application/json"}, BODY, TEMP, region)
    ours = sign_request(
        "POST", url, {"Content-Type": "application/json"}, BODY, credentials=TEMP, region=region, now=now
    )
    assert ours["authorization"] == theirs["authorization"]
    path = url.removeprefix("http://127.0.0.1:8123")
    received = {"content-type": "application/json", "host": "127.0.0.1:8123", **ours}
    secrets = {TEMP.access_key_id: TEMP.secret_access_key}
    assert verify_sigv4("POST", path, "", received, BODY, secrets=secrets, region=None, now=now) == (
        TEMP.access_key_id
    )


def test_a_naive_time_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        sign_request("POST", HOST, {}, b"", credentials=CREDS, region="us-east-1", now=datetime(2026, 1, 1))  # noqa: DTZ001


def test_credentials_never_print_the_secret() -> None:
    assert CREDS.secret_access_key not in repr(CREDS)


NOW = datetime(2026, 11, 22, 12, 0, 0, tzinfo=UTC)
PATH = bedrock_path(MODEL, "converse")
SECRETS = {CREDS.access_key_id: CREDS.secret_access_key}


def _signed(**overrides: object) -> dict[str, str]:
    kwargs: dict[str, object] = {"credentials": CREDS, "region": "us-east-1", "now": NOW}
    kwargs.update(overrides)
    added = sign_request("POST", HOST + PATH, {"content-type": "application/json"}, BODY, **kwargs)  # type: ignore[arg-type]
    return {"content-type": "application/json", "host": "bedrock-runtime.us-east-1.amazonaws.com", **added}


def _verify(
    headers: dict[str, str], *, body: bytes = BODY, now: datetime = NOW, region: str | None = "us-east-1"
) -> str:
    return verify_sigv4("POST", PATH, "", headers, body, secrets=SECRETS, region=region, now=now)


def test_a_good_signature_names_its_key() -> None:
    assert _verify(_signed()) == CREDS.access_key_id
    assert _verify(_signed(), now=NOW + timedelta(minutes=4)) == CREDS.access_key_id


@pytest.mark.parametrize(
    ("mutate", "reason", "aws_type"),
    [
        (lambda h: h.pop("authorization"), "missing_authorization", "MissingAuthenticationTokenException"),
        (
            lambda h: h.update(authorization="Basic abc"),
            "malformed_authorization",
            "IncompleteSignatureException",
        ),
        (
            lambda h: h.update(authorization=h["authorization"].replace("AKIDEXAMPLE", "AKIDOTHER")),
            "unknown_access_key",
            "UnrecognizedClientException",
        ),
        (lambda h: h.update({"content-type": "text/plain"}), "bad_signature", "InvalidSignatureException"),
        (lambda h: h.pop("content-type"), "missing_signed_header", "InvalidSignatureException"),
        (
            lambda h: h.update(authorization=h["authorization"].replace("content-type;", "")),
            "bad_signature",
            "InvalidSignatureException",
        ),
        (
            lambda h: h.update(authorization=h["authorization"].replace("host;", "")),
            "missing_signed_header",
            "InvalidSignatureException",
        ),
    ],
)
def test_tampering_is_refused_with_the_reason(mutate: object, reason: str, aws_type: str) -> None:
    headers = _signed()
    mutate(headers)  # type: ignore[operator]
    with pytest.raises(SignatureRejected) as caught:
        _verify(headers)
    assert caught.value.reason == reason
    assert caught.value.aws_type == aws_type
    assert caught.value.http_status == 403


def test_a_changed_body_breaks_the_signature() -> None:
    with pytest.raises(SignatureRejected, match="does not match") as caught:
        _verify(_signed(), body=BODY + b" ")
    assert caught.value.reason == "bad_signature"


def test_a_wrong_secret_breaks_the_signature() -> None:
    with pytest.raises(SignatureRejected) as caught:
        _verify(_signed(credentials=AwsCredentials(CREDS.access_key_id, "not-the-secret")))
    assert caught.value.reason == "bad_signature"


@pytest.mark.parametrize(("signed_in", "reason"), [("eu-west-1", "wrong_region")])
def test_a_signature_scoped_to_another_region_is_refused(signed_in: str, reason: str) -> None:
    with pytest.raises(SignatureRejected, match="valid region") as caught:
        _verify(_signed(region=signed_in))
    assert caught.value.reason == reason
    assert _verify(_signed(region=signed_in), region=None) == CREDS.access_key_id


def test_a_signature_for_another_service_is_refused() -> None:
    with pytest.raises(SignatureRejected, match="valid service") as caught:
        _verify(_signed(service="bedrock-runtime"))
    assert caught.value.reason == "wrong_service"


@pytest.mark.parametrize(
    ("skew", "word"), [(timedelta(minutes=6), "expired"), (-timedelta(minutes=6), "not yet current")]
)
def test_a_stale_or_future_date_is_refused(skew: timedelta, word: str) -> None:
    with pytest.raises(SignatureRejected, match=word) as caught:
        _verify(_signed(), now=NOW + skew)
    assert caught.value.reason == "stale_date"


def test_the_scope_date_must_match_x_amz_date() -> None:
    headers = _signed()
    headers["authorization"] = headers["authorization"].replace("/20261122/", "/20261121/")
    with pytest.raises(SignatureRejected) as caught:
        _verify(headers)
    assert caught.value.reason == "wrong_date"
