"""Named plans (limit profiles) and the limits a workspace or a key is held to.

A workspace names a plan in its settings (``{"plan": "growth"}``) and may override any of its
limits (``{"limits": {"requestsPerDay": 20000}}``; ``null`` lifts one). A key may carry limits
of its own, counted for that key alone, on top of its workspace's. A workspace with no plan and
no limits is unlimited: a self-hosted gateway limits nothing until told to.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from types import MappingProxyType
from typing import Any, Final

from tollgate.core.errors import BadRequest
from tollgate.store.records import LIMIT_FIELDS, Limits

# The public (camelCase) name of each limit.
PUBLIC_NAMES: Final[Mapping[str, str]] = MappingProxyType(
    {
        "requests_per_minute": "requestsPerMinute",
        "requests_per_day": "requestsPerDay",
        "tokens_per_minute": "tokensPerMinute",
        "monthly_requests": "monthlyRequests",
    }
)
_FIELD_OF: Final[Mapping[str, str]] = MappingProxyType({v: k for k, v in PUBLIC_NAMES.items()})
# Seed 000's plan table: requests per minute and per day.
PLANS: Final[Mapping[str, Limits]] = MappingProxyType(
    {
        "starter": Limits(requests_per_minute=60, requests_per_day=5_000),
        "growth": Limits(requests_per_minute=300, requests_per_day=50_000),
        "scale": Limits(requests_per_minute=1_000),
    }
)
LIMIT_MAX: Final = 10**12


def parse_limits(value: object, where: str, *, quota: bool = True) -> Limits | None:
    """``{"requestsPerMinute": n, ...}`` (each a positive integer or null) as ``Limits``; None
    for null. ``quota=False``: ``monthlyRequests`` is not accepted (keys have no quota)."""
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise BadRequest(f"{where} must be an object", code="invalid_limits")
    allowed = [name for name in PUBLIC_NAMES.values() if quota or name != "monthlyRequests"]
    unknown = sorted(set(value) - set(allowed))
    if unknown:
        raise BadRequest(
            f"{where} has unknown fields {', '.join(unknown)}; known: {', '.join(allowed)}",
            code="invalid_limits",
        )
    fields: dict[str, int | None] = {}
    for name, raw in value.items():
        if raw is not None and (
            isinstance(raw, bool) or not isinstance(raw, int) or not 0 < raw <= LIMIT_MAX
        ):
            raise BadRequest(f"{where}.{name} must be a positive integer or null", code="invalid_limits")
        fields[_FIELD_OF[name]] = raw
    return Limits(**fields)


def limits_json(limits: Limits | None, *, quota: bool = True) -> dict[str, int | None] | None:
    if limits is None:
        return None
    names = LIMIT_FIELDS if quota else tuple(n for n in LIMIT_FIELDS if n != "monthly_requests")
    return {PUBLIC_NAMES[name]: getattr(limits, name) for name in names}


def plan_named(value: object) -> Limits:
    if not isinstance(value, str) or value not in PLANS:
        raise BadRequest(f"plan must be one of {', '.join(PLANS)}", code="invalid_plan")
    return PLANS[value]


def workspace_limits(settings: Mapping[str, Any]) -> Limits:
    """A workspace's limits: its plan's, overridden field by field by its ``limits``."""
    base = plan_named(settings["plan"]) if settings.get("plan") is not None else Limits()
    overrides = settings.get("limits")
    if not isinstance(overrides, Mapping):
        return base
    parsed = parse_limits(overrides, "settings.limits") or Limits()
    changes = {_FIELD_OF[name]: getattr(parsed, _FIELD_OF[name]) for name in overrides}
    return replace(base, **changes)


def stored_workspace_limits(settings: Mapping[str, Any]) -> Limits | None:
    """``workspace_limits`` for settings already stored, which may predate these checks (settings
    were free-form): a value tollgate cannot read limits nothing rather than failing every call."""
    try:
        limits = workspace_limits(settings)
    except BadRequest:
        return None
    return None if limits.empty else limits


def check_workspace_settings(settings: Mapping[str, Any]) -> None:
    """Raise ``BadRequest`` if ``plan`` or ``limits`` in workspace settings are invalid."""
    if settings.get("plan") is not None:
        plan_named(settings["plan"])
    if "limits" in settings:
        parse_limits(settings["limits"], "settings.limits")
