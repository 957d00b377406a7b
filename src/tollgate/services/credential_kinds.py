"""What each provider's credential holds: its secret (``apiKey`` or a ``secrets`` bundle) and the
non-secret ``config`` it needs (seed 002).

- Most providers take an ``apiKey``. ``azure_openai`` also needs ``config.endpoint`` (or
  ``baseUrl``), and may name ``deployment`` and ``apiVersion`` (the classic, dated API).
- ``aws_bedrock`` takes ``secrets: {accessKeyId, secretAccessKey, sessionToken?}`` with
  ``config.region``, or a Bedrock API key as ``apiKey`` (sent as a Bearer token).
- ``google_vertex`` takes ``secrets: {clientEmail, privateKey, privateKeyId?}`` (checked here, so a
  bad key fails at creation, not at call time) with ``config: {projectId, location, defaultModel,
  endpointUrl?, tokenUri?}`` (both URLs https, or http to a loopback host only).

Mixing ``apiKey`` with ``secrets`` is ``400 invalid_provider_secrets``. Messages name fields, never
values.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from tollgate.core import jsonx
from tollgate.core.errors import BadRequest
from tollgate.providers.registry import ProviderSpec
from tollgate.providers.vertex_auth import validate_service_account
from tollgate.providers.vertex_urls import secure_url, vertex_config

SecretKind = Literal["apiKey", "secrets"]

# Which providers take a secrets bundle, and the fields it may hold.
SECRETS_FIELDS: Mapping[str, tuple[frozenset[str], frozenset[str]]] = {
    # provider: (required, optional)
    "aws_bedrock": (frozenset({"accessKeyId", "secretAccessKey"}), frozenset({"sessionToken"})),
    "google_vertex": (frozenset({"clientEmail", "privateKey"}), frozenset({"privateKeyId"})),
}
# Providers that can only work with a secrets bundle.
SECRETS_ONLY = frozenset({"google_vertex"})

_AWS_REGION = re.compile(r"[a-z]{2}(?:-[a-z]+)+-\d{1,2}")
_AZURE_API_VERSION = re.compile(r"\d{4}-\d{2}-\d{2}(?:-preview)?")
_AZURE_DEPLOYMENT = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


@dataclass(frozen=True, slots=True)
class ParsedSecret:
    kind: SecretKind
    plaintext: bytes  # what gets sealed
    last4: str

    def __repr__(self) -> str:
        return f"ParsedSecret(kind={self.kind!r}, last4=<hidden>)"


def _bad(message: str, field: str | None = None) -> BadRequest:
    details = {"field": field} if field else None
    return BadRequest(message, code="invalid_provider_secrets", details=details)


def _bad_config(message: str, field: str) -> BadRequest:
    return BadRequest(message, code="invalid_config", details={"field": field})


def _bundle(spec: ProviderSpec, secrets: object) -> dict[str, str]:
    fields = SECRETS_FIELDS.get(spec.id)
    if fields is None:
        bundled = ", ".join(sorted(SECRETS_FIELDS))
        raise _bad(f"{spec.id} takes an apiKey; secrets bundles are for {bundled}", "secrets")
    required, optional = fields
    if not isinstance(secrets, Mapping):
        raise _bad(f"secrets must be an object with {', '.join(sorted(required))}", "secrets")
    unknown = sorted(str(k) for k in secrets if k not in required | optional)
    if unknown:
        expected = ", ".join(sorted(required | optional))
        raise _bad(f"unknown {spec.id} secrets {', '.join(unknown)}; expected {expected}", unknown[0])
    clean: dict[str, str] = {}
    for name in sorted(required | optional):
        value = secrets.get(name)
        if value is None and name in optional:
            continue
        if not isinstance(value, str) or not value.strip():
            raise _bad(f"secrets.{name} must be a non-empty string", name)
        clean[name] = value.strip()
    if spec.id == "google_vertex":
        validate_service_account(clean)
    return clean


def parse_secret(spec: ProviderSpec, api_key: object, secrets: object) -> ParsedSecret:
    """The secret of a write body (``apiKey`` or ``secrets``), checked for ``spec``."""
    if api_key is not None and secrets is not None:
        raise _bad("send either apiKey or secrets, not both")
    if secrets is not None:
        bundle = _bundle(spec, secrets)
        identity = bundle.get("accessKeyId") or bundle.get("clientEmail") or ""
        return ParsedSecret("secrets", jsonx.dumps({"secrets": bundle}), identity[-4:])
    if spec.id in SECRETS_ONLY:
        raise _bad(f"{spec.id} takes secrets: {{clientEmail, privateKey, privateKeyId?}}", "secrets")
    if not isinstance(api_key, str) or not api_key.strip():
        raise BadRequest("apiKey must be a non-empty string", code="invalid_api_key")
    key = api_key.strip()
    return ParsedSecret("apiKey", jsonx.dumps({"apiKey": key}), key[-4:])


def _string(config: Mapping[str, Any], name: str, pattern: re.Pattern[str], what: str) -> str | None:
    value = config.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise _bad_config(f"config.{name} must be {what}", name)
    return value


def check_provider_config(spec: ProviderSpec, config: dict[str, Any]) -> dict[str, Any]:
    """Provider-specific config rules (``baseUrl`` itself is checked by the caller)."""
    if spec.id == "azure_openai":
        if "endpoint" not in config and "baseUrl" not in config:
            raise _bad_config(
                "azure_openai requires config.endpoint (https://<resource>.openai.azure.com)", "endpoint"
            )
        _string(config, "deployment", _AZURE_DEPLOYMENT, "an Azure deployment name")
        _string(config, "apiVersion", _AZURE_API_VERSION, "an api-version such as 2024-10-21")
    elif spec.id == "aws_bedrock":
        # The region names the host and is part of every SigV4 signature, so it is always needed.
        if _string(config, "region", _AWS_REGION, "an AWS region such as us-east-1") is None:
            raise _bad_config("aws_bedrock requires config.region (e.g. us-east-1)", "region")
    elif spec.id == "google_vertex":
        vertex_config(config)
        model = config.get("defaultModel")
        if not isinstance(model, str) or not model.strip():
            raise _bad_config("google_vertex requires config.defaultModel", "defaultModel")
        if "tokenUri" in config:  # the signed assertion goes there: the same rule as endpointUrl
            config["tokenUri"] = secure_url(config["tokenUri"], "tokenUri")
    return config
