"""The opened form of a provider credential, shared by the live state and the service."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tollgate.providers.registry import ProviderSpec
from tollgate.store.records import ProviderCredential


def sealing_context(credential: ProviderCredential) -> str:
    """Associated data binding a sealed secret to its row."""
    return f"{credential.workspace_id}/{credential.id}"


@dataclass(frozen=True, slots=True)
class ResolvedCredential:
    """An opened credential, for one upstream call. Never logged, never serialised."""

    credential: ProviderCredential
    spec: ProviderSpec
    api_key: str  # "" for a secrets-bundle credential
    base_url: str
    secrets: Mapping[str, str] | None = field(default=None, repr=False)

    @property
    def config(self) -> Mapping[str, Any]:
        return self.credential.config

    def __repr__(self) -> str:  # keep the key out of any accidental repr
        return f"ResolvedCredential(id={self.credential.id!r}, provider={self.spec.id!r})"
