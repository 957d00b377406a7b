"""Provider credentials: strict BYOK, sealed at rest, resolved from memory on the hot path.

A credential's secret (``apiKey`` or a ``secrets`` bundle) is sealed with the master key and
bound to its row; reads expose ``last4`` only. The pipeline resolves the credential for a
(workspace, provider) from an in-memory index that reloads when the change feed moves.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any
from urllib.parse import urlsplit

from tollgate.core.clock import Clock
from tollgate.core.errors import BadRequest, NotFound, Unprocessable
from tollgate.core.ids import IdFactory
from tollgate.providers.registry import ProviderSpec, resolve_provider
from tollgate.services.credential_kinds import check_provider_config, parse_secret
from tollgate.services.credentials_base import ResolvedCredential, sealing_context
from tollgate.services.sealing import Keyring
from tollgate.services.state import LiveState
from tollgate.store.records import ProviderCredential
from tollgate.store.repos import Store

_SECRET_LOOKING = frozenset({"apikey", "api_key", "key", "secret", "secrets", "password", "token"})


def validate_base_url(value: object, name: str = "config.baseUrl") -> str:
    """An absolute http(s) URL with a host, a valid port, no credentials and no whitespace."""
    invalid = BadRequest(f"{name} must be an http(s) URL", code="invalid_base_url")
    if not isinstance(value, str) or not value.strip():
        raise invalid
    url = value.strip()
    if any(c.isspace() or not c.isprintable() for c in url):
        raise invalid
    try:
        parts = urlsplit(url)
        _ = parts.port  # raises for a port that is not a number in 0..65535
    except ValueError as exc:  # e.g. an unclosed IPv6 bracket
        raise invalid from exc
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise invalid
    if parts.username or parts.password:
        raise BadRequest(f"{name} must not carry credentials", code="invalid_base_url")
    return url.rstrip("/")


def supported_spec(provider: object) -> ProviderSpec:
    if not isinstance(provider, str) or not provider:
        raise Unprocessable("provider is required", code="provider_not_supported")
    spec = resolve_provider(provider)
    if spec is None:
        raise Unprocessable(f"provider {provider!r} is not supported", code="provider_not_supported")
    return spec


def validate_config(spec: ProviderSpec, config: object) -> dict[str, Any]:
    if config is None:
        config = {}
    if not isinstance(config, Mapping):
        raise BadRequest("config must be an object", code="invalid_config")
    clean = dict(config)
    leaked = sorted(k for k in clean if k.lower() in _SECRET_LOOKING)
    if leaked:
        raise BadRequest(
            f"config is not secret storage; move {', '.join(leaked)} to apiKey or secrets",
            code="invalid_config",
        )
    if "baseUrl" in clean:
        clean["baseUrl"] = validate_base_url(clean["baseUrl"])
    if "endpoint" in clean:
        clean["endpoint"] = validate_base_url(clean["endpoint"], "config.endpoint")
    if spec.requires_base_url and "baseUrl" not in clean:
        raise BadRequest(f"{spec.id} requires config.baseUrl", code="invalid_base_url")
    return check_provider_config(spec, clean)


class CredentialService:
    def __init__(
        self,
        store: Store,
        state: LiveState,
        clock: Clock,
        ids: IdFactory,
    ) -> None:
        self._store = store
        self._state = state
        self._clock = clock
        self._ids = ids

    async def create(self, workspace_id: str, body: Mapping[str, Any]) -> ProviderCredential:
        spec = supported_spec(body.get("provider"))
        secret = parse_secret(spec, body.get("apiKey"), body.get("secrets"))
        config = validate_config(spec, body.get("config"))
        name = body.get("name") or "default"
        if not isinstance(name, str) or len(name) > 100:
            raise BadRequest("name must be a string of at most 100 characters", code="invalid_name")
        existing = await self._store.credentials.list(workspace_id, provider=spec.id)
        is_default = body.get("isDefault")
        now = self._clock.now()
        draft = ProviderCredential(
            id=self._ids.new("pc"),
            workspace_id=workspace_id,
            provider=spec.id,
            name=name,
            sealed_secret="",
            secret_kind=secret.kind,
            last4=secret.last4,
            config=config,
            is_default=bool(is_default) if is_default is not None else not existing,
            status="active",
            created_at=now,
            updated_at=now,
        )
        sealed = self._state.keyring.seal(secret.plaintext, sealing_context(draft))
        created = await self._store.credentials.create(replace(draft, sealed_secret=sealed))
        await self._state.changed()
        return created

    async def get(self, workspace_id: str, credential_id: str) -> ProviderCredential:
        cred = await self._store.credentials.get(workspace_id, credential_id)
        if cred is None:
            raise NotFound(f"provider credential {credential_id} not found", code="credential_not_found")
        return cred

    async def list(self, workspace_id: str, provider: str | None = None) -> list[ProviderCredential]:
        return await self._store.credentials.list(workspace_id, provider=provider)

    async def update(
        self, workspace_id: str, credential_id: str, body: Mapping[str, Any]
    ) -> ProviderCredential:
        current = await self.get(workspace_id, credential_id)
        spec = supported_spec(current.provider)
        if "provider" in body and body["provider"] != current.provider:
            raise BadRequest("provider cannot change; create a new credential", code="invalid_request")
        changes: dict[str, Any] = {}
        if "apiKey" in body or "secrets" in body:
            secret = parse_secret(spec, body.get("apiKey"), body.get("secrets"))
            changes.update(
                sealed_secret=self._state.keyring.seal(secret.plaintext, sealing_context(current)),
                last4=secret.last4,
                secret_kind=secret.kind,
            )
        if "config" in body:
            changes["config"] = validate_config(spec, body["config"])
        if "name" in body:
            if not isinstance(body["name"], str) or not body["name"] or len(body["name"]) > 100:
                raise BadRequest("name must be a string of at most 100 characters", code="invalid_name")
            changes["name"] = body["name"]
        if "isDefault" in body:
            changes["is_default"] = bool(body["isDefault"])
        if "status" in body:
            if body["status"] not in ("active", "inactive"):
                raise BadRequest("status must be active or inactive", code="invalid_status")
            changes["status"] = body["status"]
        updated = await self._store.credentials.update(
            workspace_id, credential_id, updated_at=self._clock.now(), **changes
        )
        if updated is None:
            raise NotFound(f"provider credential {credential_id} not found", code="credential_not_found")
        await self._state.changed()
        return updated

    async def delete(self, workspace_id: str, credential_id: str) -> None:
        if not await self._store.credentials.delete(workspace_id, credential_id):
            raise NotFound(f"provider credential {credential_id} not found", code="credential_not_found")
        await self._state.changed()

    def open(self, credential: ProviderCredential) -> ResolvedCredential:
        return self._state.open(credential, supported_spec(credential.provider))

    async def reseal_all(self, keyring: Keyring) -> int:
        """Re-seal every credential under ``keyring``'s current key (master-key rotation)."""

        def reseal(cred: ProviderCredential) -> str:
            return keyring.seal(
                self._state.keyring.open(cred.sealed_secret, sealing_context(cred)), sealing_context(cred)
            )

        return await self._store.credentials.reseal_all(reseal)
