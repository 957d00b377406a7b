"""Everything the hot path needs, served from memory: keys, credentials, price overrides,
workspace limits and time zones, budgets.

One generation read per request (``ensure_fresh``) decides whether this worker's copy is
current; when any worker or instance changed something, the copy is reloaded before use.
After that every lookup is a dict access. Invariant: a change made through the services is
visible to the very next request in every worker sharing the change feed.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable
from decimal import Decimal
from zoneinfo import ZoneInfo

from tollgate.core import jsonx
from tollgate.core.clock import Clock
from tollgate.core.errors import BadRequest, StateUnavailable, Unauthorized
from tollgate.pricing.prices import ModelPrice
from tollgate.providers.endpoints import base_url
from tollgate.providers.registry import ProviderSpec
from tollgate.services.analytics.periods import workspace_zone
from tollgate.services.changes import ChangeFeed
from tollgate.services.credentials_base import ResolvedCredential, sealing_context
from tollgate.services.limits.plans import stored_workspace_limits
from tollgate.services.sealing import Keyring
from tollgate.store.records import Budget, GatewayKey, Limits, PriceOverride, ProviderCredential
from tollgate.store.repos import Store

_UTC = ZoneInfo("UTC")


def hash_key(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def _model_price(row: PriceOverride) -> ModelPrice:
    return ModelPrice(
        input_per_mtok=Decimal(row.input_per_mtok),
        output_per_mtok=Decimal(row.output_per_mtok),
        cache_read_per_mtok=Decimal(row.cache_read_per_mtok) if row.cache_read_per_mtok else None,
        cache_write_per_mtok=Decimal(row.cache_write_per_mtok) if row.cache_write_per_mtok else None,
    )


class LiveState:
    def __init__(
        self,
        store: Store,
        feed: ChangeFeed,
        keyring: Keyring,
        clock: Clock,
        keyring_loader: Callable[[], Keyring] | None = None,
    ) -> None:
        self._store = store
        self._feed = feed
        self._keyring = keyring
        self._keyring_loader = keyring_loader
        self._clock = clock
        self._generation = -1
        self._bump_owed = False
        self._lock = asyncio.Lock()
        self._keys: dict[str, GatewayKey] = {}
        self._revoked: frozenset[str] = frozenset()
        self._credentials: dict[tuple[str, str], list[ProviderCredential]] = {}
        self._prices: dict[tuple[str, str, str], ModelPrice] = {}
        self._limits: dict[str, Limits] = {}
        self._zones: dict[str, ZoneInfo] = {}
        self._budgets: dict[str, tuple[Budget, ...]] = {}

    @property
    def keyring(self) -> Keyring:
        return self._keyring

    async def reload(self) -> None:
        async with self._lock:
            generation = await self._feed.generation()
            if self._keyring_loader is not None:
                # A master-key rotation bumps the feed: pick up the new key files with the rows.
                self._keyring = self._keyring_loader()
            keys = {k.key_hash: k for k in await self._store.keys.list_usable()}
            revoked = await self._store.keys.revoked_hashes()
            credentials: dict[tuple[str, str], list[ProviderCredential]] = {}
            for cred in await self._store.credentials.list_active():
                credentials.setdefault((cred.workspace_id, cred.provider), []).append(cred)
            for creds in credentials.values():
                creds.sort(key=lambda c: (not c.is_default, c.created_at, c.id))
            prices = {
                (row.workspace_id, row.provider, row.model): _model_price(row)
                for row in await self._store.prices.list_all()
            }
            settings = await self._store.workspaces.settings_of_all()
            budgets: dict[str, list[Budget]] = {}
            for budget in await self._store.budgets.list_all():
                budgets.setdefault(budget.workspace_id, []).append(budget)
            self._keys, self._revoked, self._credentials, self._prices = keys, revoked, credentials, prices
            self._limits = {
                ws: limits for ws, s in settings.items() if (limits := stored_workspace_limits(s)) is not None
            }
            self._zones = {ws: workspace_zone(s) for ws, s in settings.items() if s.get("timeZone")}
            self._budgets = {ws: tuple(items) for ws, items in budgets.items()}
            self._generation = generation

    async def ensure_fresh(self) -> None:
        """Reload when anything changed anywhere. If the feed cannot be read, refuse (503) and
        reload once it can: changes made meanwhile must not be missed."""
        try:
            if self._bump_owed:
                await self._feed.bump()
                self._bump_owed = False
            generation = await self._feed.generation()
        except StateUnavailable:
            self._generation = -1
            raise
        if generation != self._generation:
            await self.reload()

    async def changed(self) -> None:
        """Call after every write to keys, credentials or prices.

        The write is already stored; if the feed cannot be bumped now, this worker reloads
        anyway, owes the bump, and pays it on its next request, so other instances still learn.
        """
        try:
            await self._feed.bump()
        except StateUnavailable:
            self._bump_owed = True
            self._generation = -1
            raise
        await self.reload()

    def authenticate(self, raw: str | None) -> GatewayKey:
        """The active key for a raw bearer value, or ``Unauthorized`` with a precise code."""
        if not raw:
            raise Unauthorized("Missing API key.", code="missing_api_key")
        hashed = hash_key(raw)
        key = self._keys.get(hashed)
        if key is None:
            if hashed in self._revoked:
                raise Unauthorized("Revoked API key.", code="revoked_api_key")
            raise Unauthorized("Invalid API key.", code="invalid_api_key")
        if key.status == "inactive":
            raise Unauthorized("Inactive API key.", code="inactive_api_key")
        if key.status != "active":
            raise Unauthorized("Revoked API key.", code="revoked_api_key")
        if key.expires_at is not None and key.expires_at <= self._clock.now():
            raise Unauthorized("Expired API key.", code="expired_api_key")
        return key

    def credential(
        self, workspace_id: str, spec: ProviderSpec, name: str | None = None
    ) -> ResolvedCredential:
        candidates = self._credentials.get((workspace_id, spec.id), [])
        if name is not None:
            candidates = [c for c in candidates if c.name == name]
        if not candidates:
            named = f" named {name!r}" if name else ""
            raise BadRequest(
                f"No {spec.id} API key found: store a {spec.id} provider credential{named} "
                "for this workspace.",
                code="provider_credential_required",
                details={"provider": spec.id},
            )
        return self.open(candidates[0], spec)

    def open(self, credential: ProviderCredential, spec: ProviderSpec) -> ResolvedCredential:
        secret = jsonx.loads(self._keyring.open(credential.sealed_secret, sealing_context(credential)))
        bundle = secret.get("secrets")
        return ResolvedCredential(
            credential,
            spec,
            str(secret.get("apiKey", "")),
            base_url(spec, credential.config),
            bundle if isinstance(bundle, dict) else None,
        )

    def providers_for(self, workspace_id: str) -> set[str]:
        """Providers this workspace holds an active credential for."""
        return {provider for (ws, provider) in self._credentials if ws == workspace_id}

    def price_override(self, workspace_id: str, provider: str, model: str) -> ModelPrice | None:
        return self._prices.get((workspace_id, provider, model))

    def limits_of(self, workspace_id: str) -> Limits | None:
        """The workspace's plan limits with its overrides; None when it has none."""
        return self._limits.get(workspace_id)

    def zone_of(self, workspace_id: str) -> ZoneInfo:
        """The workspace's time zone (UTC unless its settings name one)."""
        return self._zones.get(workspace_id) or _UTC

    def budgets_of(self, workspace_id: str) -> tuple[Budget, ...]:
        return self._budgets.get(workspace_id, ())
