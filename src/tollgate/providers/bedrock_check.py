"""Checking a Bedrock credential for ``POST /v1/provider-credentials/{id}/test``, and explaining AWS's no.

The probe is ``CountTokens`` (``POST /model/{id}/count-tokens``): it is signed and authorised like a
Converse call, but it is free and generates nothing. The model is the credential's
``config.defaultModel`` when set, else ``CHECK_MODEL``. AWS's error type (``x-amzn-ErrorType``, or
``__type`` in the body) says what is wrong: an unknown access key, a bad secret, a region the
endpoint is not in, a model the account cannot use. No explanation includes a secret.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from tollgate.core import jsonx
from tollgate.providers.normalize import obj, text
from tollgate.providers.registry import join_url
from tollgate.providers.sigv4 import bedrock_path

CHECK_MODEL = "anthropic.claude-3-5-haiku-20241022-v1:0"
_MESSAGE_LIMIT = 200


def check_model(config: Mapping[str, Any]) -> str:
    model = config.get("defaultModel")
    return model if isinstance(model, str) and model.strip() else CHECK_MODEL


def probe(base_url: str, config: Mapping[str, Any]) -> tuple[str, bytes]:
    """(URL, body) of a one-word CountTokens request."""
    body = {"input": {"converse": {"messages": [{"role": "user", "content": [{"text": "ping"}]}]}}}
    url = join_url(base_url, bedrock_path(check_model(config), "count-tokens"))
    return url, jsonx.dumps(body)


def error_type(headers: Sequence[tuple[str, str]], body: bytes) -> tuple[str, str]:
    """(AWS exception name, its message) from an error response; names lose their ``:…`` suffix."""
    try:
        payload = obj(jsonx.loads(body)) if body else obj(None)
    except jsonx.JSONDecodeError:
        payload = obj(None)
    named = next((v for k, v in headers if k == "x-amzn-errortype"), None) or text(payload.get("__type"))
    kind = (named or "").partition(":")[0].rpartition("#")[2]
    message = text(payload.get("message")) or text(payload.get("Message")) or ""
    return kind, message


def explain(
    status: int,
    headers: Sequence[tuple[str, str]],
    body: bytes,
    config: Mapping[str, Any],
    *,
    api_key: bool = False,
) -> str | None:
    """Words a person can act on for a refused check; None when the status alone says it well.
    ``api_key``: the credential is a Bedrock API key (Bearer), not a SigV4 secrets bundle."""
    kind, message = error_type(headers, body)
    region, model = config.get("region", "?"), check_model(config)
    unrecognised = kind in ("UnrecognizedClientException", "InvalidClientTokenId")
    if unrecognised and api_key:
        return "AWS does not accept this Bedrock API key: it may be mistyped, expired or revoked"
    if unrecognised:
        return (
            "AWS does not recognise this access key id, or its session token is wrong or expired "
            "(check secrets.accessKeyId and secrets.sessionToken)"
        )
    if kind == "ExpiredTokenException":
        return "the session token has expired: store fresh temporary credentials"
    if kind in ("InvalidSignatureException", "SignatureDoesNotMatch"):
        if "region" in message:
            return (
                f"the request was signed for region {region!r}, which is not the endpoint's region "
                "(check config.region and config.baseUrl)"
            )
        if "expired" in message.lower() or "not yet current" in message:
            return "AWS refused the signature's time: the gateway's clock is more than 5 minutes off"
        return "the signature does not match: the secret access key is wrong (check secrets.secretAccessKey)"
    if kind == "AccessDeniedException":
        return (
            f"the credentials were accepted but may not use model {model!r} in {region} "
            "(grant model access and bedrock:InvokeModel, or set config.defaultModel)"
        )
    lowered = message.lower()
    if kind == "ValidationException" and "count" in lowered and "support" in lowered:
        return (
            f"the credentials were accepted, but model {model!r} does not support CountTokens: "
            "set config.defaultModel to a model that does (the check spends no tokens)"
        )
    if kind == "ResourceNotFoundException" or (kind == "ValidationException" and "model" in lowered):
        return (
            f"the credentials were accepted, but Bedrock in {region} has no model {model!r} "
            "(check config.defaultModel and config.region)"
        )
    if kind and status < 500 and status != 429:
        return f"AWS refused the check: {kind}: {message[:_MESSAGE_LIMIT]}"
    return None
