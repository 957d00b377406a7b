"""Embeddings and model lists for the OpenAI-compatible family (PROVIDERS.md A.1).

Vectors are deterministic (seeded by the input), unit length and exactly representable as float32, so
``encoding_format: "base64"`` (little-endian float32, base64) and ``"float"`` describe the same vector.
"""

from __future__ import annotations

import base64
import math
import random
import struct
import zlib
from collections.abc import Sequence
from functools import partial
from typing import Any

from tollgate.core import jsonx
from tollgate.testing._errors import ErrorStyle, bad_request
from tollgate.testing._tokens import embedding_input_tokens
from tollgate.testing._types import Call, Handler, Reply

DEFAULT_DIMENSIONS = 1536
_MODEL_DIMENSIONS = (
    ("text-embedding-3-large", 3072),
    ("mistral-embed", 1024),
    ("text-embedding-ada-002", 1536),
)
_MAX_DIMENSIONS = 8192


def embeddings_handler(style: ErrorStyle) -> Handler:
    return partial(create_embeddings, style=style)


def models_handler(models: Sequence[str], owner: str) -> Handler:
    return partial(list_models, models=tuple(models), owner=owner)


ANTHROPIC_MODELS = ("claude-haiku-4-5", "claude-sonnet-4-6", "claude-opus-4-5")


def anthropic_models_handler(models: Sequence[str]) -> Handler:
    return partial(list_anthropic_models, models=tuple(models))


def list_anthropic_models(call: Call, models: tuple[str, ...]) -> Reply:
    """``GET /v1/models`` in Anthropic's paginated list shape."""
    data = [
        {"type": "model", "id": name, "display_name": name, "created_at": "2026-01-01T00:00:00Z"}
        for name in models
    ]
    body = {"data": data, "has_more": False, "first_id": models[0], "last_id": models[-1]}
    return Reply(200, jsonx.dumps(body))


def openrouter_key_info(call: Call) -> Reply:
    """OpenRouter's ``GET /api/v1/key``: what the presented key may spend."""
    data = {"label": "sk-or-…", "usage": 0, "limit": None, "is_free_tier": False}
    return Reply(200, jsonx.dumps({"data": data}))


def list_models(call: Call, models: tuple[str, ...], owner: str) -> Reply:
    data = [{"id": name, "object": "model", "created": 1_700_000_000, "owned_by": owner} for name in models]
    return Reply(200, jsonx.dumps({"object": "list", "data": data}))


def _inputs(value: object) -> list[object] | None:
    """The separate inputs of an ``input`` field, or None when it holds none."""
    if isinstance(value, str):
        return [value] if value else None
    if isinstance(value, list) and value:
        if all(isinstance(item, int) and not isinstance(item, bool) for item in value):
            return [value]  # one input given as token ids
        if all(isinstance(item, str | list) and item for item in value):
            return list(value)
    return None


def _dimensions(model: str, requested: object) -> int | None:
    if requested is None:
        return next((dims for name, dims in _MODEL_DIMENSIONS if name == model), DEFAULT_DIMENSIONS)
    if isinstance(requested, int) and not isinstance(requested, bool) and 0 < requested <= _MAX_DIMENSIONS:
        return requested
    return None


def vector(seed_source: object, dimensions: int) -> tuple[float, ...]:
    """A unit vector determined by the input, with float32-exact components."""
    rng = random.Random(zlib.crc32(jsonx.dumps(seed_source)))
    raw = [rng.random() * 2.0 - 1.0 for _ in range(dimensions)]
    norm = math.sqrt(math.fsum(x * x for x in raw)) or 1.0
    packed = struct.pack(f"<{dimensions}f", *(x / norm for x in raw))
    return struct.unpack(f"<{dimensions}f", packed)


def _encode(values: tuple[float, ...], encoding: str) -> Any:
    if encoding == "base64":
        return base64.b64encode(struct.pack(f"<{len(values)}f", *values)).decode("ascii")
    return values


def create_embeddings(call: Call, style: ErrorStyle) -> Reply:
    if not isinstance(call.request.json, dict):
        return bad_request(style, "We could not parse the JSON body of your request.")
    body = call.body
    model = body.get("model")
    if not isinstance(model, str) or not model:
        return bad_request(style, "you must provide a model parameter", param="model")
    inputs = _inputs(body.get("input"))
    if inputs is None:
        return bad_request(
            style, "'input' must be a non-empty string or array of strings or token ids", param="input"
        )
    encoding = body.get("encoding_format", "float")
    if encoding not in ("float", "base64"):
        return bad_request(style, "'encoding_format' must be 'float' or 'base64'", param="encoding_format")
    dimensions = _dimensions(model, body.get("dimensions"))
    if dimensions is None:
        return bad_request(style, "'dimensions' must be a positive integer", param="dimensions")
    tokens = call.scenario.input_tokens
    if tokens is None:
        tokens = sum(sum(embedding_input_tokens(item)) for item in inputs)
    data = [
        {"object": "embedding", "index": index, "embedding": _encode(vector(item, dimensions), encoding)}
        for index, item in enumerate(inputs)
    ]
    payload: dict[str, Any] = {"object": "list", "data": data, "model": call.reported_model(model)}
    if not call.scenario.omit_usage:
        payload["usage"] = {"prompt_tokens": tokens, "total_tokens": tokens}
    return Reply(200, jsonx.dumps(payload), answer=True)
