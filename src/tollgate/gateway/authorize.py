"""Sends an upstream request with the credential's proof of identity.

- An ``apiKey`` credential adds its static header (``auth_headers``).
- An ``aws_bedrock`` secrets bundle signs each request with SigV4, over the exact body bytes, at
  the gateway clock's time.
- A ``google_vertex`` secrets bundle sends a short-lived OAuth2 access token from a ``TokenSource``
  kept per credential (re-created when the credential changes); a ``401`` refreshes it once.

Nothing here logs or returns a secret.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime

from tollgate.core.clock import Clock
from tollgate.gateway.upstream import Transport, UpstreamRequest, UpstreamResponse
from tollgate.providers.registry import auth_headers
from tollgate.providers.sigv4 import AwsCredentials, sign_request
from tollgate.providers.vertex_auth import (
    DEFAULT_TOKEN_URI,
    TokenSource,
    send_with_token,
    validate_service_account,
)
from tollgate.services.credentials_base import ResolvedCredential

_SIGNING_HEADERS = frozenset({"x-amz-date", "x-amz-security-token", "x-amz-content-sha256"})


class Authorizer:
    def __init__(self, transport: Transport, clock: Clock) -> None:
        self._transport = transport
        self._clock = clock
        # credential id -> (the credential's updated_at when the source was made, its source)
        self._token_sources: dict[str, tuple[datetime, TokenSource]] = {}

    async def send(self, request: UpstreamRequest, credential: ResolvedCredential) -> UpstreamResponse:
        secrets = credential.secrets
        if secrets is None:
            headers = [*request.headers, *auth_headers(credential.spec, credential.api_key)]
            return await self._transport(replace(request, headers=headers))
        if credential.spec.id == "aws_bedrock":
            return await self._transport(self._signed(request, credential, secrets))
        source = self._token_source(credential, secrets)

        def build(token: str) -> UpstreamRequest:
            return replace(request, headers=[*request.headers, ("authorization", f"Bearer {token}")])

        return await send_with_token(source, build, self._transport)

    def _signed(
        self, request: UpstreamRequest, credential: ResolvedCredential, secrets: Mapping[str, str]
    ) -> UpstreamRequest:
        aws = AwsCredentials(secrets["accessKeyId"], secrets["secretAccessKey"], secrets.get("sessionToken"))
        # A pass-through client's own signing headers would travel beside ours (or name its session).
        headers = [(k, v) for k, v in request.headers if k.lower() not in _SIGNING_HEADERS]
        added = sign_request(
            request.method,
            request.url,
            dict(headers),
            request.body or b"",
            credentials=aws,
            region=str(credential.config.get("region", "")),
            now=self._clock.now(),
        )
        return replace(request, headers=[*headers, *added.items()])

    def _token_source(self, credential: ResolvedCredential, secrets: Mapping[str, str]) -> TokenSource:
        row = credential.credential
        known = self._token_sources.get(row.id)
        if known is not None and known[0] == row.updated_at:
            return known[1]
        token_uri = str(credential.config.get("tokenUri") or DEFAULT_TOKEN_URI)
        source = TokenSource(
            validate_service_account(secrets), self._transport, self._clock, token_uri=token_uri
        )
        self._token_sources[row.id] = (row.updated_at, source)
        return source
