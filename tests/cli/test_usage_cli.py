"""The usage commands end to end: ``tollgate login/whoami/status/requests/export/logout`` driven
through the real CLI against a real gateway that made real calls through the simulator."""

from __future__ import annotations

import csv
import io
import json
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import openai
import pytest
from click.testing import Result
from typer.testing import CliRunner

from tests.support.gateway import ADMIN_TOKEN, Tenant
from tests.support.process import free_port
from tollgate.cli import format as fmt
from tollgate.cli.main import app
from tollgate.testing import Scenario, Simulator

HEADER = (
    "id,created_at,key_id,provider,model,upstream_model,operation,door,stream,status,http_status,"
    "error_code,input_tokens,cache_read_tokens,cache_write_tokens,output_tokens,reasoning_tokens,"
    "total_tokens,cost_usd,reported_cost_usd,price_source,price_unknown,estimated,cache_status,"
    "latency_ms,ttfb_ms,route,function,feature,customer"
)


@dataclass
class Cli:
    config: Path

    @property
    def credentials(self) -> Path:
        return self.config / "credentials.json"

    def __call__(self, *args: str, input: str | None = None, **env: str) -> Result:
        environment: dict[str, str | None] = {
            "TOLLGATE_CONFIG_DIR": str(self.config),
            "TOLLGATE_SERVER": None,
            "TOLLGATE_TOKEN": None,
            "TOLLGATE_WORKSPACE": None,
            "COLUMNS": "220",
        }
        environment.update(env)
        return CliRunner().invoke(app, list(args), env=environment, input=input)


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    return Cli(tmp_path / "config")


def ok(result: Result) -> Result:
    assert result.exit_code == 0, (result.stdout, result.stderr, result.exception)
    return result


def failed(result: Result) -> str:
    """The one line a failed command writes to stderr."""
    assert result.exit_code == 1, (result.stdout, result.stderr, result.exception)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


def logged_in(cli: Cli, tenant: Tenant) -> None:
    ok(cli("login", "--server", tenant.url, "--token", tenant.key))


def make_traffic(tenant: Tenant, sim: Simulator) -> None:
    """Four successful calls on two models and two features, and one failed call."""
    client = openai.OpenAI(base_url=tenant.url + "/v1", api_key=tenant.key, max_retries=0)
    calls = [
        ("gpt-4o-mini", "chat"),
        ("gpt-4o-mini", "chat"),
        ("gpt-4o", "search"),
        ("claude-haiku-4-5", "search"),
    ]
    for model, feature in calls:
        client.chat.completions.create(
            model=model,
            messages=[{"role": "user", "content": f"a question about {feature}"}],
            extra_headers={"x-tollgate-feature": feature},
        )
    sim.enqueue(Scenario(error_status=429))
    with pytest.raises(openai.RateLimitError):
        client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "again"}])
    tenant.server.flush()


def listed(tenant: Tenant, **params: Any) -> list[dict[str, Any]]:
    response = tenant.admin("GET", "/v1/requests", params={"limit": 500, **params})
    assert response.status_code == 200, response.text
    data: list[dict[str, Any]] = response.json()["data"]
    return data


def days_around_today() -> tuple[str, str]:
    today = datetime.now(UTC).date()
    return (today - timedelta(days=1)).isoformat(), (today + timedelta(days=1)).isoformat()


# --- login, whoami, logout ---------------------------------------------------------------------


def test_login_checks_and_saves_the_key_privately(cli: Cli, tenant: Tenant) -> None:
    result = ok(cli("login", "--server", tenant.url + "/", "--token", tenant.key))
    assert tenant.key not in result.output
    assert f"…{tenant.key[-4:]}" in result.stdout and tenant.workspace_id in result.stdout
    assert stat.S_IMODE(cli.credentials.stat().st_mode) == 0o600
    assert stat.S_IMODE(cli.config.stat().st_mode) == 0o700
    assert json.loads(cli.credentials.read_text()) == {
        "server": tenant.url,
        "token": tenant.key,
        "workspace": None,
    }
    assert not [p for p in cli.config.iterdir() if p.name != "credentials.json"], "no temporary file left"

    who = ok(cli("whoami"))
    for shown in (tenant.url, "gateway key", "acme", tenant.workspace_id, "UTC", "app", tenant.key_id):
        assert shown in who.stdout
    assert f"…{tenant.key[-4:]}" in who.stdout and "proxy, ingest, read" in who.stdout
    assert tenant.key not in who.output
    as_json = json.loads(ok(cli("whoami", "--json")).stdout)
    assert as_json["kind"] == "key" and as_json["server"] == tenant.url
    assert as_json["key"]["preview"] == tenant.key[-4:] and tenant.key not in json.dumps(as_json)


def test_login_prompts_for_what_is_missing_and_hides_the_token(cli: Cli, tenant: Tenant) -> None:
    result = ok(cli("login", input=f"{tenant.url}\n{tenant.key}\n"))
    assert "Server URL" in result.output and "Token" in result.output
    assert tenant.key not in result.output
    assert json.loads(cli.credentials.read_text())["token"] == tenant.key


def test_a_bad_token_is_refused_and_nothing_is_saved(cli: Cli, tenant: Tenant) -> None:
    line = failed(cli("login", "--server", tenant.url, "--token", "tg_not_a_real_key"))
    assert "401" in line and "invalid_api_key" in line and "tg_not_a_real_key" not in line
    assert not cli.credentials.exists()
    # A failed login does not replace a good one either.
    logged_in(cli, tenant)
    failed(cli("login", "--server", tenant.url, "--token", "tg_still_wrong"))
    assert json.loads(cli.credentials.read_text())["token"] == tenant.key


def test_the_admin_token_needs_a_workspace(cli: Cli, tenant: Tenant) -> None:
    line = failed(cli("login", "--server", tenant.url, "--token", ADMIN_TOKEN))
    assert "--workspace" in line and not cli.credentials.exists()
    assert "workspace_not_found" in failed(
        cli("login", "--server", tenant.url, "--token", ADMIN_TOKEN, "--workspace", "ws_missing")
    )
    assert not cli.credentials.exists()
    result = ok(
        cli("login", "--server", tenant.url, "--token", ADMIN_TOKEN, "--workspace", tenant.workspace_id)
    )
    assert ADMIN_TOKEN not in result.output and f"…{ADMIN_TOKEN[-4:]}" in result.stdout
    who = ok(cli("whoami")).stdout
    assert "admin token" in who and tenant.workspace_id in who and ADMIN_TOKEN not in who


def test_logout_forgets_the_login(cli: Cli, tenant: Tenant) -> None:
    logged_in(cli, tenant)
    assert "removed" in ok(cli("logout")).stdout
    assert not cli.credentials.exists()
    assert "tollgate login" in failed(cli("whoami"))
    assert "Not logged in" in ok(cli("logout")).stdout


# --- errors and overrides ----------------------------------------------------------------------


def test_not_logged_in_says_to_log_in(cli: Cli) -> None:
    for command in ("whoami", "status", "requests", "export"):
        assert "run `tollgate login`" in failed(cli(command))


def test_an_unreachable_server_is_named(cli: Cli) -> None:
    server = f"http://127.0.0.1:{free_port()}"
    line = failed(cli("status", "--server", server, "--token", "tg_whatever_1234"))
    assert server in line and "connection refused" in line and "tg_whatever" not in line


def test_environment_overrides_need_no_saved_login(cli: Cli, tenant: Tenant) -> None:
    who = ok(cli("whoami", TOLLGATE_SERVER=tenant.url, TOLLGATE_TOKEN=tenant.key))
    assert tenant.workspace_id in who.stdout
    assert not cli.credentials.exists()
    flags = ok(
        cli("whoami", "--server", tenant.url, "--token", ADMIN_TOKEN, "--workspace", tenant.workspace_id)
    )
    assert "admin token" in flags.stdout


def test_a_saved_token_goes_only_to_its_own_server(cli: Cli, tenant: Tenant) -> None:
    logged_in(cli, tenant)
    other = f"http://127.0.0.1:{free_port()}"
    line = failed(cli("whoami", "--server", other))
    assert f"not logged in to {other}" in line


def test_server_refusals_are_one_line(cli: Cli, tenant: Tenant) -> None:
    minted = tenant.admin("POST", "/v1/keys", json={"name": "ingest-only", "scopes": ["ingest"]}).json()
    login = ok(cli("login", "--server", tenant.url, "--token", minted["key"]))
    assert "no read scope" in login.stderr
    line = failed(cli("status"))
    assert "403" in line and "insufficient_scope" in line and "read scope" in line
    logged_in(cli, tenant)
    line = failed(cli("status", "--from", "2026-13-45"))
    assert "400" in line and "invalid_date" in line


# --- status, requests, export ------------------------------------------------------------------


def _models(records: list[dict[str, Any]]) -> Mapping[tuple[str, str], tuple[int, int]]:
    sums: dict[tuple[str, str], tuple[int, int]] = {}
    for r in records:
        requests, cost = sums.get((r["provider"], r["model"]), (0, 0))
        sums[(r["provider"], r["model"])] = (requests + 1, cost + (r["costNanos"] or 0))
    return sums


def test_status_matches_the_request_log(cli: Cli, tenant: Tenant, sim: Simulator) -> None:
    make_traffic(tenant, sim)
    logged_in(cli, tenant)
    start, end = days_around_today()
    records = listed(tenant, **{"from": start, "to": end})
    assert len(records) == 5

    report = json.loads(ok(cli("status", "--from", start, "--to", end, "--json")).stdout)
    assert set(report) == {"summary", "byModel", "byFeature"}
    totals = report["summary"]["totals"]
    assert totals["requests"] == 5 and totals["errors"] == 1
    assert totals["costNanos"] == sum(r["costNanos"] or 0 for r in records) > 0
    assert totals["totalTokens"] == sum(r["totalTokens"] for r in records)
    by_model = {(r["provider"], r["model"]): (r["requests"], r["costNanos"]) for r in report["byModel"]}
    assert by_model == _models(records)
    costs = [r["costNanos"] for r in report["byModel"]]
    assert costs == sorted(costs, reverse=True)
    by_feature = {r["feature"]: r["requests"] for r in report["byFeature"]}
    assert by_feature == {"chat": 2, "search": 2, None: 1}

    table = ok(cli("status", "--from", start, "--to", end)).stdout
    assert fmt.money(totals["costUsd"]) in table
    for row in report["byModel"]:
        assert row["model"] in table and fmt.money(row["costUsd"]) in table
        assert row["costNanos"] == 0 or fmt.money(row["costUsd"]) != "$0.00"
    assert "By model" in table and "By feature" in table and "search" in table and "(none)" in table


def test_status_defaults_to_this_month(cli: Cli, tenant: Tenant, sim: Simulator) -> None:
    make_traffic(tenant, sim)
    logged_in(cli, tenant)
    report = json.loads(ok(cli("status", "--json")).stdout)
    summary = report["summary"]
    assert summary["from"][8:10] == "01"  # the first of the month (the workspace is on UTC)
    assert summary["totals"]["requests"] == len(listed(tenant, **{"from": summary["from"]}))
    assert sum(r["requests"] for r in report["byFeature"]) == summary["totals"]["requests"]


def test_requests_lists_recent_calls(cli: Cli, tenant: Tenant, sim: Simulator) -> None:
    make_traffic(tenant, sim)
    logged_in(cli, tenant)
    records = listed(tenant)
    table = ok(cli("requests")).stdout
    assert "5 most recent calls" in table
    for name in ("gpt-4o-mini", "claude-haiku-4-5", "chat", "search", "error 429"):
        assert name in table
    assert [r["id"] for r in json.loads(ok(cli("requests", "--json")).stdout)] == [r["id"] for r in records]
    newest = json.loads(ok(cli("requests", "--limit", "2", "--json")).stdout)
    assert [r["id"] for r in newest] == [r["id"] for r in records[:2]]
    only = json.loads(ok(cli("requests", "--provider", "anthropic", "--json")).stdout)
    assert [r["model"] for r in only] == ["claude-haiku-4-5"]
    errors = json.loads(ok(cli("requests", "--status", "error", "--feature", "chat", "--json")).stdout)
    assert errors == []
    assert "no calls match" in ok(cli("requests", "--model", "no-such-model")).stdout


def test_export_writes_every_call_and_no_secret(
    cli: Cli, tenant: Tenant, sim: Simulator, tmp_path: Path
) -> None:
    make_traffic(tenant, sim)
    logged_in(cli, tenant)
    target = tmp_path / "out" / "usage.csv"
    target.parent.mkdir()
    result = ok(cli("export", "--output", str(target)))
    assert "exported 5 rows" in result.stdout
    text = target.read_text()
    assert text.splitlines()[0] == HEADER
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [r["id"] for r in rows] == [r["id"] for r in listed(tenant)]
    assert tenant.key not in text and tenant.key not in result.output
    assert [p.name for p in target.parent.iterdir()] == ["usage.csv"]

    anthropic = ok(cli("export", "-o", str(target), "--provider", "anthropic"))
    assert "exported 1 rows" in anthropic.stdout
    assert [r["model"] for r in csv.DictReader(io.StringIO(target.read_text()))] == ["claude-haiku-4-5"]


def test_a_failed_export_leaves_no_file(cli: Cli, tenant: Tenant, tmp_path: Path) -> None:
    logged_in(cli, tenant)
    folder = tmp_path / "exports"
    folder.mkdir()
    (folder / "old.csv").write_text("an earlier export\n")
    assert "invalid_date" in failed(cli("export", "-o", str(folder / "new.csv"), "--from", "yesterday"))
    assert "invalid_date" in failed(cli("export", "-o", str(folder / "old.csv"), "--to", "someday"))
    assert sorted(p.name for p in folder.iterdir()) == ["old.csv"]
    assert (folder / "old.csv").read_text() == "an earlier export\n"
