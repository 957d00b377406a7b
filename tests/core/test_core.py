"""Settings, money, ids and sealing: the foundations every layer relies on."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tollgate.core.clock import FakeClock
from tollgate.core.ids import IdFactory
from tollgate.core.money import format_usd, nanos_to_usd, parse_usd, usd_to_nanos
from tollgate.core.settings import SettingsError, load_settings
from tollgate.services.sealing import (
    Keyring,
    SealingError,
    load_keyring,
    new_master_key,
    parse_master_key,
)


def test_settings_precedence_flags_then_env_then_toml(tmp_path: Path) -> None:
    toml = tmp_path / "tollgate.toml"
    toml.write_text('port = 1111\nhost = "0.0.0.0"\nlog_level = "debug"\n')
    settings = load_settings({"port": 3333}, {"TOLLGATE_PORT": "2222", "TOLLGATE_HOST": "10.0.0.1"}, toml)
    assert (settings.port, settings.host, settings.log_level) == (3333, "10.0.0.1", "debug")


def test_settings_reject_unknown_toml_keys_and_bad_values(tmp_path: Path) -> None:
    toml = tmp_path / "tollgate.toml"
    toml.write_text("prot = 1\n")
    with pytest.raises(SettingsError, match="prot"):
        load_settings(toml_path=toml)
    with pytest.raises(SettingsError, match="port"):
        load_settings(env={"TOLLGATE_PORT": "eighty"})
    with pytest.raises(SettingsError, match="demo"):
        load_settings(env={"TOLLGATE_DEMO": "perhaps"})


def test_database_urls_map_to_async_drivers(tmp_path: Path) -> None:
    assert load_settings(env={"TOLLGATE_DATABASE_URL": "postgres://u@h/db"}).sqlalchemy_url == (
        "postgresql+asyncpg://u@h/db"
    )
    local = load_settings(env={"TOLLGATE_HOME": str(tmp_path)}).sqlalchemy_url
    assert local == f"sqlite+aiosqlite:///{tmp_path.resolve() / 'tollgate.db'}"


@pytest.mark.parametrize(
    ("nanos", "text"),
    [(0, "0"), (1, "0.000000001"), (7_500_000, "0.0075"), (10**9, "1"), (123_456_789_012, "123.456789012")],
)
def test_format_usd_is_exact(nanos: int, text: str) -> None:
    assert format_usd(nanos) == text
    assert usd_to_nanos(parse_usd(text)) == nanos


@given(st.integers(min_value=-(10**18), max_value=10**18))
def test_money_round_trips(nanos: int) -> None:
    text = format_usd(nanos)
    assert usd_to_nanos(Decimal(text)) == nanos
    assert text == format(nanos_to_usd(nanos).normalize(), "f")  # Decimal's own fixed notation


def test_usd_to_nanos_rounds_half_even() -> None:
    assert usd_to_nanos("0.0000000005") == 0
    assert usd_to_nanos("0.0000000015") == 2
    with pytest.raises(ValueError):
        parse_usd("-1")
    with pytest.raises(ValueError):
        parse_usd("NaN")


def test_ids_sort_by_creation_time() -> None:
    clock = FakeClock(datetime(2026, 5, 1, tzinfo=UTC))
    ids = IdFactory(clock)
    made = []
    for _ in range(50):
        made.append(ids.new("req"))
        clock.advance(0.001)
    assert made == sorted(made)
    assert len(set(made)) == 50
    assert all(i.startswith("req_") and len(i) == 30 for i in made)


def test_sealing_binds_to_its_row_and_names_its_key() -> None:
    keyring = Keyring(parse_master_key(new_master_key()))
    sealed = keyring.seal(b"sk-secret", "ws_1/pc_1")
    assert b"sk-secret" not in sealed.encode() and keyring.current_id in sealed
    assert keyring.open(sealed, "ws_1/pc_1") == b"sk-secret"
    with pytest.raises(SealingError):
        keyring.open(sealed, "ws_2/pc_1")
    tampered = sealed[:-2] + ("A" if sealed[-2] != "A" else "B") + sealed[-1]
    with pytest.raises(SealingError):
        keyring.open(tampered, "ws_1/pc_1")
    with pytest.raises(SealingError, match="does not hold"):
        Keyring(parse_master_key(new_master_key())).open(sealed, "ws_1/pc_1")


def test_master_keys_parse_strictly() -> None:
    assert len(parse_master_key("00" * 32)) == 32
    with pytest.raises(ValueError):
        parse_master_key("too-short")


def test_keyring_holds_old_keys_for_opening(tmp_path: Path) -> None:
    old = load_keyring(tmp_path, None)
    sealed = old.seal(b"v", "ctx")
    (tmp_path / "master.key").rename(tmp_path / "master.key.prev")
    new = load_keyring(tmp_path, None)
    assert new.current_id != old.current_id
    assert new.open(sealed, "ctx") == b"v"
