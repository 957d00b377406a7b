"""Settings: flags, then ``TOLLGATE_*`` environment variables, then ``tollgate.toml``.

Nothing is read at import time. ``load_settings`` takes the environment as a mapping so
tests pass their own. Unknown keys in the TOML file are errors.
"""

from __future__ import annotations

import dataclasses
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_type_hints

ENV_PREFIX = "TOLLGATE_"


class SettingsError(ValueError):
    """A setting is unknown or has a value of the wrong kind."""


@dataclass(frozen=True)
class Settings:
    home: Path = Path(".tollgate")
    host: str = "127.0.0.1"
    port: int = 8787
    database_url: str | None = None
    redis_url: str | None = None
    admin_token: str | None = None
    master_key: str | None = None
    max_body_bytes: int = 10 * 1024 * 1024
    upstream_connect_timeout: float = 10.0
    upstream_first_byte_timeout: float = 300.0
    upstream_idle_timeout: float = 120.0
    journal_fsync: bool = False
    writer_batch_size: int = 500
    writer_interval: float = 0.05
    shutdown_grace: float = 30.0
    retention_interval: float = 3600.0  # seconds between raw-row retention passes; 0 turns them off
    # Webhooks: private/loopback targets and plain http (local development and tests only), the
    # first retry delay (doubling from there, ~a day in all) and the timeout of one delivery.
    allow_private_webhooks: bool = False
    webhook_retry_base_seconds: float = 30.0
    webhook_timeout_seconds: float = 10.0
    # Spend control. If shared limit state (Redis) is unreachable, admit calls unchecked (true,
    # counted in /metrics) or refuse them with 503 (false).
    limits_fail_open: bool = True
    hold_output_tokens: int = 4096  # a budget hold's output when the request sets no max_tokens
    hold_unpriced_usd: str = "0.05"  # a budget hold for a model without a known price
    hold_ttl_seconds: float = 3600.0  # an unsettled hold (its process died) is dropped after this
    # Anomaly alerts: seconds between passes (0: off), how many times the baseline is a spike, the
    # least spend that can be one, and the days the baseline is learned from.
    alert_interval_seconds: float = 300.0
    anomaly_factor: float = 3.0
    anomaly_min_usd: str = "1.00"
    anomaly_baseline_days: int = 7
    log_level: str = "info"
    access_log: bool = False
    workers: int = 1
    demo: bool = False
    extra: Mapping[str, str] = field(default_factory=dict)

    @property
    def sqlalchemy_url(self) -> str:
        """The async SQLAlchemy URL: PostgreSQL when configured, else SQLite in the home folder."""
        if self.database_url:
            return to_async_url(self.database_url)
        return f"sqlite+aiosqlite:///{(self.home / 'tollgate.db').resolve()}"

    @property
    def journal_dir(self) -> Path:
        return self.home / "journal"


def to_async_url(url: str) -> str:
    """Map the URLs people write (``postgresql://``, ``postgres://``, ``sqlite:///``) to async drivers."""
    for plain, driver in (
        ("postgresql://", "postgresql+asyncpg://"),
        ("postgres://", "postgresql+asyncpg://"),
        ("sqlite://", "sqlite+aiosqlite://"),
    ):
        if url.startswith(plain):
            return driver + url[len(plain) :]
    return url


def _fields() -> dict[str, Any]:
    hints = get_type_hints(Settings)
    return {f.name: hints[f.name] for f in dataclasses.fields(Settings) if f.name != "extra"}


def _coerce(name: str, kind: Any, value: Any) -> Any:
    if value is None:
        return None
    text_kind = str(kind)
    try:
        if kind is bool or text_kind == "bool":
            if isinstance(value, bool):
                return value
            lowered = str(value).strip().lower()
            if lowered in {"1", "true", "yes", "on"}:
                return True
            if lowered in {"0", "false", "no", "off", ""}:
                return False
            raise ValueError(value)
        if kind is int:
            return int(value)
        if kind is float:
            return float(value)
        if kind is Path:
            return Path(str(value))
    except (TypeError, ValueError) as exc:
        raise SettingsError(f"setting {name!r} has an invalid value") from exc
    return str(value)


def load_settings(
    flags: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
    toml_path: Path | None = None,
) -> Settings:
    """Resolve settings. ``flags`` win over ``env``, which wins over the TOML file."""
    fields = _fields()
    values: dict[str, Any] = {}
    if toml_path is not None and toml_path.exists():
        with toml_path.open("rb") as fh:
            data = tomllib.load(fh)
        unknown = sorted(set(data) - set(fields))
        if unknown:
            raise SettingsError(f"unknown settings in {toml_path}: {', '.join(unknown)}")
        values.update(data)
    for name in fields:
        raw = (env or {}).get(ENV_PREFIX + name.upper())
        if raw is not None and raw != "":
            values[name] = raw
    for name, value in (flags or {}).items():
        if name not in fields:
            raise SettingsError(f"unknown setting {name!r}")
        if value is not None:
            values[name] = value
    coerced = {name: _coerce(name, fields[name], value) for name, value in values.items()}
    return Settings(**coerced)
