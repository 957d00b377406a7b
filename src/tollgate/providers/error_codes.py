"""The error code a usage record gets for a provider's error: what the provider stated, in its words.

- An error answer (status >= 400): ``upstream_error_code`` reads the provider's own code from the
  parsed body and the headers, by wire format. AWS names the exception in ``x-amzn-ErrorType``
  (``ValidationException:http://internal.amazon.com/...``) or the body's ``__type``; OpenAI-style
  bodies say ``error.code``, else ``error.type``; Anthropic ``error.type``; Google ``error.status``
  (``RESOURCE_EXHAUSTED``); Vertex AI answers in Google's shape, or Anthropic's for Claude. Cohere
  states none. None when nothing usable is there: the caller falls back to ``upstream_{status}``.
- A successful answer whose generation failed: a few finish reasons say so (Gemini's
  ``MALFORMED_FUNCTION_CALL``, Cohere's ``ERROR``); ``finish_error`` makes them an error object
  coded ``upstream_finish_<reason>``, so metering reports the call as failed.

Codes come from outside: only short identifiers are kept (letters, digits, ``_ . -``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Any

from tollgate.providers.normalize import Family as WireFormat
from tollgate.providers.registry import Family

_CODE = re.compile(r"[A-Za-z][A-Za-z0-9_.-]{0,63}")
_AWS_ERROR_TYPE = "x-amzn-errortype"

# Where each wire format keeps its code in the error object, first match wins.
_CODE_FIELDS: Mapping[Family, tuple[str, ...]] = MappingProxyType(
    {
        "openai": ("code", "type"),
        "anthropic": ("type",),
        "gemini": ("status",),
        "vertex": ("status", "type"),
        "cohere": (),
    }
)

# Finish reasons that mean the generation failed rather than ended (the hub's FinishReason.ERROR).
FAILED_FINISH: Mapping[WireFormat, frozenset[str]] = MappingProxyType(
    {
        WireFormat.GEMINI: frozenset(
            {"MALFORMED_FUNCTION_CALL", "UNEXPECTED_TOOL_CALL", "LANGUAGE", "OTHER"}
        ),
        WireFormat.COHERE: frozenset({"ERROR", "TIMEOUT"}),
    }
)


def clean_code(value: object) -> str | None:
    """``value`` if it is a short identifier, else None. ``"error"`` says nothing: None too."""
    if not isinstance(value, str) or value == "error" or not _CODE.fullmatch(value):
        return None
    return value


def stated_code(error: Mapping[str, Any], fields: Iterable[str] = ("code", "type", "status")) -> str | None:
    """The first usable code among ``fields`` of an error object, or of the ``error`` object in it."""
    inner = error.get("error")
    source: Mapping[str, Any] = inner if isinstance(inner, dict) else error
    for name in fields:
        if (code := clean_code(source.get(name))) is not None:
            return code
    return None


def _aws_code(body: object, headers: Iterable[tuple[str, str]]) -> str | None:
    """``x-amzn-ErrorType`` up to any ``:``, else the body's ``__type`` after any ``#``."""
    for name, value in headers:
        if name.lower() == _AWS_ERROR_TYPE and (code := clean_code(value.split(":", 1)[0].strip())):
            return code
    kind = body.get("__type") if isinstance(body, dict) else None
    return clean_code(kind.rsplit("#", 1)[-1]) if isinstance(kind, str) else None


def upstream_error_code(family: Family, body: object, headers: Iterable[tuple[str, str]]) -> str | None:
    """The code a provider's error answer states (``body`` parsed, None if it was not JSON)."""
    if family == "bedrock":
        return _aws_code(body, headers)
    if not isinstance(body, dict):
        return None
    return stated_code(body, _CODE_FIELDS.get(family, ()))


def finish_error(wire: WireFormat | None, finish_reason: str | None) -> Mapping[str, Any] | None:
    """An error object for a finish reason that means the generation failed, else None."""
    if wire is None or finish_reason is None or finish_reason not in FAILED_FINISH.get(wire, ()):
        return None
    return {
        "message": f"the generation stopped with {finish_reason}",
        "code": f"upstream_finish_{finish_reason.lower()}",
        "finish_reason": finish_reason,
    }
