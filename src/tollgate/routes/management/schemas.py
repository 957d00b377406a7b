"""Request and response shapes of the management API (they drive the OpenAPI document).

Request models are permissive about types where a service gives a more precise error code
(seed 002's ``invalid_api_key``, ``invalid_provider_secrets``...); they exist to document.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class WorkspaceIn(_In):
    name: str = Field(min_length=1, max_length=200)
    settings: dict[str, Any] | None = None


class WorkspacePatch(_In):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    settings: dict[str, Any] | None = None


class WorkspaceOut(BaseModel):
    id: str
    name: str
    settings: dict[str, Any]
    createdAt: datetime
    updatedAt: datetime


class KeyIn(_In):
    name: str = Field(min_length=1, max_length=200)
    scopes: list[str] | None = Field(
        default=None, description="Any of proxy, ingest, read, admin (default: proxy, ingest, read)."
    )
    expiresAt: datetime | None = None
    allowedProviders: list[str] | None = Field(
        default=None, description="Providers this key may call (default: all)."
    )
    allowedModels: list[str] | None = Field(
        default=None, description="Models this key may call (default: all)."
    )
    metadata: dict[str, Any] | None = None
    limits: Any = Field(
        default=None,
        description="The key's own rate limits: requestsPerMinute, requestsPerDay, tokensPerMinute "
        "(positive integers; null or absent: no limit of that kind for this key).",
    )


class KeyPatch(_In):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    scopes: list[str] | None = None
    status: Literal["active", "inactive"] | None = None
    expiresAt: datetime | None = None
    allowedProviders: list[str] | None = None
    allowedModels: list[str] | None = None
    metadata: dict[str, Any] | None = None
    limits: Any = Field(
        default=None,
        description="The key's own rate limits: requestsPerMinute, requestsPerDay, tokensPerMinute "
        "(positive integers; null or absent: no limit of that kind for this key).",
    )


class KeyOut(BaseModel):
    id: str
    workspaceId: str
    name: str
    preview: str
    scopes: list[str]
    status: str
    createdAt: datetime
    updatedAt: datetime
    expiresAt: datetime | None
    allowedProviders: list[str] | None
    allowedModels: list[str] | None
    metadata: dict[str, Any]
    limits: dict[str, int | None] | None


class MintedKeyOut(KeyOut):
    key: str = Field(
        description="The raw key: returned once, at creation and rotation. Only its hash is kept."
    )


class CredentialIn(_In):
    provider: str
    apiKey: Any = None
    secrets: Any = None
    config: Any = None
    name: str | None = None
    isDefault: bool | None = None


class CredentialPatch(_In):
    provider: str | None = None
    apiKey: Any = None
    secrets: Any = None
    config: Any = None
    name: str | None = None
    isDefault: bool | None = None
    status: Literal["active", "inactive"] | None = None


class CredentialOut(BaseModel):
    id: str
    workspaceId: str
    provider: str
    name: str
    last4: str
    config: dict[str, Any]
    isDefault: bool
    status: str
    createdAt: datetime
    updatedAt: datetime


class CredentialTestOut(BaseModel):
    ok: bool
    provider: str
    status: int | None = None
    latencyMs: int | None = None
    reason: str | None = None


# Accepted as anything so that the price service answers ``invalid_price`` for a missing,
# negative or non-numeric value; documented as what it must be.
_Price = Annotated[
    Any,
    WithJsonSchema(
        {"anyOf": [{"type": "string"}, {"type": "number"}], "description": "USD per million tokens, >= 0"}
    ),
]
_OptionalPrice = Annotated[
    Any,
    WithJsonSchema(
        {
            "anyOf": [{"type": "string"}, {"type": "number"}, {"type": "null"}],
            "description": "USD per million tokens, >= 0 (default: the input price)",
        }
    ),
]


class PriceIn(_In):
    provider: str
    model: str
    inputPerMTok: _Price = None
    outputPerMTok: _Price = None
    cacheReadPerMTok: _OptionalPrice = None
    cacheWritePerMTok: _OptionalPrice = None


class PriceOut(BaseModel):
    id: str
    provider: str
    model: str
    inputPerMTok: str
    outputPerMTok: str
    cacheReadPerMTok: str | None
    cacheWritePerMTok: str | None
    createdAt: datetime
    updatedAt: datetime


class Page(BaseModel):
    data: list[dict[str, Any]]
    nextCursor: str | None = None
