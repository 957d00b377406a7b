"""``tollgate login``, ``logout`` and ``whoami``: the saved login and who it is.

A token is never printed, only its last four characters.
"""

from __future__ import annotations

import json
import os
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from tollgate.cli.client import ApiClient
from tollgate.cli.config import Login, SavedLoginError, load_login, remove_login, save_login
from tollgate.cli.session import (
    DEFAULT_SERVER,
    Connection,
    ServerOption,
    TokenOption,
    WorkspaceOption,
    client_for,
    err_console,
    normalize_server,
    out_console,
    reported_errors,
)
from tollgate.core.errors import BadRequest

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]


def _saved_server() -> str:
    try:
        saved = load_login(os.environ)
    except SavedLoginError:
        return DEFAULT_SERVER
    return saved.server if saved else DEFAULT_SERVER


def _who(me: dict[str, Any]) -> str:
    workspace = me.get("workspace")
    where = f" on workspace {workspace['name']} ({workspace['id']})" if workspace else ""
    key = me.get("key")
    if key:
        return f"key {key['name']!r} (…{key['preview']}){where}"
    return f"the admin token{where}"


def login(
    server: ServerOption = None,
    token: TokenOption = None,
    workspace: WorkspaceOption = None,
) -> None:
    """Check a server URL and token (a gateway key or the admin token), then save them (mode 0600)."""
    with reported_errors():
        url = normalize_server(server or typer.prompt("Server URL", default=_saved_server()))
        secret = token or typer.prompt("Token", hide_input=True)
        me = ApiClient(url, secret, workspace).get_json("/v1/me")
        if me.get("kind") == "admin" and not workspace:
            raise BadRequest(
                "the admin token acts on one workspace: pass --workspace ws_...", code="workspace_required"
            )
        saved_workspace = workspace if me.get("kind") == "admin" else None
        path = save_login(Login(url, secret, saved_workspace), os.environ)
        out = out_console()
        out.print(f"Logged in to {url} as {_who(me)}, token …{secret[-4:]}.", markup=False)
        out.print(f"Saved to {path}", markup=False)
        key = me.get("key")
        if key and "read" not in key.get("scopes", []):
            err_console().print(
                "note: this key has no read scope, so status, requests and export will be refused",
                markup=False,
            )


def logout() -> None:
    """Forget the saved login."""
    removed = remove_login(os.environ)
    if removed is None:
        out_console().print("Not logged in: nothing to remove.")
    else:
        out_console().print(f"Logged out: removed {removed}", markup=False)


def whoami(
    as_json: JsonOption = False,
    server: ServerOption = None,
    token: TokenOption = None,
    workspace: WorkspaceOption = None,
) -> None:
    """Show the server, the workspace and the key the CLI acts as."""
    with reported_errors():
        client = client_for(Connection(server, token, workspace))
        me = client.get_json("/v1/me")
    if as_json:
        typer.echo(json.dumps({"server": client.server, **me}, indent=2))
        return
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold")
    table.add_column()
    for name, value in _whoami_rows(client.server, me):
        table.add_row(name, Text(value))
    out_console().print(table)


def _whoami_rows(server: str, me: dict[str, Any]) -> list[tuple[str, str]]:
    rows = [("server", server), ("kind", "gateway key" if me.get("kind") == "key" else "admin token")]
    ws = me.get("workspace")
    if ws:
        rows += [("workspace", f"{ws['name']} ({ws['id']})"), ("time zone", str(ws.get("timeZone", "UTC")))]
    else:
        rows.append(("workspace", "none (pass --workspace, or log in with one)"))
    key = me.get("key")
    if key:
        rows += [
            ("key", f"{key['name']} ({key['id']})"),
            ("preview", f"…{key['preview']}"),
            ("scopes", ", ".join(key.get("scopes", []))),
            ("status", str(key.get("status", ""))),
        ]
    return rows
