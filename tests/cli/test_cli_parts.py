"""The CLI's parts on their own: money shown from exact strings, the CSV row counter, the API
client over a transport function, the saved login on disk, and which token goes where."""

from __future__ import annotations

import csv
import io
import json
import re
import stat
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tollgate.cli.client import ApiClient, ApiError, HttpRequest, HttpResponse
from tollgate.cli.config import Login, SavedLoginError, config_dir, load_login, remove_login, save_login
from tollgate.cli.export import RowCounter
from tollgate.cli.format import money
from tollgate.cli.session import DEFAULT_SERVER, Connection, NotLoggedIn, resolve
from tollgate.core.errors import CallerError
from tollgate.core.money import format_usd

# --- money -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("usd", "shown"),
    [
        ("0", "$0.00"),
        ("12.5", "$12.50"),
        ("1234567.891", "$1,234,567.89"),
        ("1", "$1.00"),
        ("0.5", "$0.50"),
        ("0.0123", "$0.0123"),
        ("0.000123456", "$0.000123"),
        ("0.0000084", "$0.0000084"),
        ("0.000000001", "$0.000000001"),
        ("0.9999", "$1.00"),
        (None, "unknown"),
    ],
)
def test_money_examples(usd: str | None, shown: str) -> None:
    assert money(usd) == shown


@given(st.integers(min_value=1, max_value=10**18))
def test_money_never_hides_a_cost_and_stays_close(nanos: int) -> None:
    shown = money(format_usd(nanos))
    assert shown != "$0.00"
    value = Decimal(shown.removeprefix("$").replace(",", ""))
    exact = Decimal(nanos) / 10**9
    assert abs(value - exact) <= max(exact / 100, Decimal("0.005"))  # 3 digits below $1, cents above


# --- the CSV row counter -----------------------------------------------------------------------

cells = st.text(alphabet=st.sampled_from('ab,"\n\r x'), max_size=8)


@given(
    st.lists(st.lists(cells, min_size=1, max_size=4), max_size=12),
    st.lists(st.integers(min_value=1, max_value=40), max_size=30),
)
def test_row_counter_counts_records_however_the_bytes_are_cut(rows: list[list[str]], cuts: list[int]) -> None:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows([["id", "feature"], *rows])
    data = buffer.getvalue().encode()
    counter = RowCounter()
    position = 0
    for size in [*cuts, len(data)]:
        counter.feed(data[position : position + size])
        position += size
    assert counter.rows == len(rows)
    assert not counter.quoted


# --- the client over a transport ---------------------------------------------------------------


class Recorder:
    def __init__(self, status: int, body: bytes, content_type: str = "application/json") -> None:
        self.status, self.body, self.content_type = status, body, content_type
        self.sent: list[HttpRequest] = []
        self.closed = 0

    def __call__(self, request: HttpRequest) -> HttpResponse:
        self.sent.append(request)

        def chunks() -> Iterator[bytes]:
            yield from (self.body[i : i + 3] for i in range(0, len(self.body), 3))

        def close() -> None:
            self.closed += 1

        return HttpResponse(self.status, {"content-type": self.content_type}, chunks(), close)


def test_the_client_sends_the_token_workspace_and_query() -> None:
    transport = Recorder(200, b'{"data": []}')
    client = ApiClient("http://gw.test:8787/", "tg_secret", "ws_1", transport=transport)
    assert client.get_json("/v1/requests", [("provider", "open ai"), ("limit", "5")]) == {"data": []}
    (sent,) = transport.sent
    assert sent.method == "GET" and sent.url == "http://gw.test:8787/v1/requests?provider=open+ai&limit=5"
    assert sent.headers["authorization"] == "Bearer tg_secret"
    assert sent.headers["x-tollgate-workspace"] == "ws_1"
    assert transport.closed >= 1


def test_server_errors_keep_the_servers_code_and_message() -> None:
    body = json.dumps({"error": {"code": "insufficient_scope", "message": "no read scope"}}).encode()
    client = ApiClient("http://gw.test", "tg_x", transport=Recorder(403, body))
    with pytest.raises(ApiError) as caught:
        client.get_json("/v1/summary")
    assert (caught.value.http_status, caught.value.code, caught.value.message) == (
        403,
        "insufficient_scope",
        "no read scope",
    )
    plain = ApiClient(
        "http://gw.test", "tg_x", transport=Recorder(502, b"<html>bad gateway</html>", "text/html")
    )
    with pytest.raises(ApiError) as caught:
        plain.get_json("/v1/summary")
    assert caught.value.code == "http_error" and "502" in caught.value.message
    not_json = ApiClient(
        "http://gw.test", "tg_x", transport=Recorder(200, b"<html>hello</html>", "text/html")
    )
    with pytest.raises(ApiError) as caught:
        not_json.get_json("/v1/me")
    assert caught.value.code == "not_json" and "tollgate server" in caught.value.message


# --- the saved login ---------------------------------------------------------------------------


def test_where_the_login_lives(tmp_path: Path) -> None:
    assert config_dir({"TOLLGATE_CONFIG_DIR": "/a", "XDG_CONFIG_HOME": "/b", "HOME": "/c"}) == Path("/a")
    assert config_dir({"XDG_CONFIG_HOME": "/b", "HOME": "/c"}) == Path("/b/tollgate")
    assert config_dir({"HOME": "/c"}) == Path("/c/.config/tollgate")


def test_saving_is_private_and_replaces_the_old_login(tmp_path: Path) -> None:
    env = {"XDG_CONFIG_HOME": str(tmp_path / "xdg")}
    assert load_login(env) is None
    path = save_login(Login("http://a.test", "tg_one"), env)
    assert path == tmp_path / "xdg" / "tollgate" / "credentials.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    save_login(Login("http://b.test", "tg_two", "ws_2"), env)
    assert load_login(env) == Login("http://b.test", "tg_two", "ws_2")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in path.parent.iterdir()] == ["credentials.json"]
    assert remove_login(env) == path and load_login(env) is None and remove_login(env) is None


def test_a_damaged_login_file_says_to_log_in_again(tmp_path: Path) -> None:
    env = {"TOLLGATE_CONFIG_DIR": str(tmp_path)}
    (tmp_path / "credentials.json").write_text('{"server": "http://a.test"')
    with pytest.raises(SavedLoginError, match="tollgate login"):
        load_login(env)


# --- which token goes where --------------------------------------------------------------------

SAVED = Login("http://saved.test", "tg_saved", "ws_saved")


def test_flags_win_and_a_saved_token_stays_with_its_server() -> None:
    assert resolve(Connection(), SAVED) == SAVED
    assert resolve(Connection(workspace="ws_other"), SAVED) == Login(
        "http://saved.test", "tg_saved", "ws_other"
    )
    # A token given on the command line brings its own workspace, never the saved one.
    assert resolve(Connection(token="tg_new"), SAVED) == Login("http://saved.test", "tg_new", None)
    assert resolve(Connection(token="tg_new"), None) == Login(DEFAULT_SERVER, "tg_new", None)
    assert resolve(Connection("http://x.test/", "tg_new"), SAVED) == Login("http://x.test", "tg_new", None)
    assert resolve(Connection("http://saved.test/"), SAVED) == SAVED
    with pytest.raises(NotLoggedIn, match=re.escape("not logged in to http://x.test")):
        resolve(Connection("http://x.test"), SAVED)
    with pytest.raises(NotLoggedIn, match="tollgate login"):
        resolve(Connection(), None)
    with pytest.raises(CallerError, match="http:// or https://"):
        resolve(Connection("gw.test:8787", "tg_new"), None)
