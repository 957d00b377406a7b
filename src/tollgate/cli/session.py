"""What every API command shares: the connection options, the client they make, and how
errors end a command (one line on stderr, exit code 1).

Which server and token: ``--server``/``--token``/``--workspace`` (or ``TOLLGATE_SERVER``,
``TOLLGATE_TOKEN``, ``TOLLGATE_WORKSPACE``), then the saved login. A saved token is only ever
sent to the server it was saved for: naming another server needs a token too.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Annotated

import typer
from rich.console import Console

from tollgate.cli.client import ApiClient, ApiError, Transport
from tollgate.cli.config import Login, load_login
from tollgate.core.errors import CallerError, TollgateError

DEFAULT_SERVER = "http://127.0.0.1:8787"

ServerOption = Annotated[
    str | None,
    typer.Option("--server", envvar="TOLLGATE_SERVER", help="Server URL (default: the saved login)."),
]
TokenOption = Annotated[
    str | None,
    typer.Option(
        "--token", envvar="TOLLGATE_TOKEN", show_envvar=False, help="Token (default: the saved login)."
    ),
]
WorkspaceOption = Annotated[
    str | None,
    typer.Option(
        "--workspace", envvar="TOLLGATE_WORKSPACE", help="Workspace id (needed with the admin token)."
    ),
]


class NotLoggedIn(CallerError):
    status = 401
    default_code = "not_logged_in"


@dataclass(frozen=True, slots=True)
class Connection:
    """The options as given on the command line (or in the environment)."""

    server: str | None = None
    token: str | None = None
    workspace: str | None = None


def normalize_server(url: str) -> str:
    url = url.strip().rstrip("/")
    if not url.startswith(("http://", "https://")):
        raise CallerError(
            f"{url!r} is not a server URL: it must start with http:// or https://", code="invalid_server_url"
        )
    return url


def resolve(given: Connection, saved: Login | None) -> Login:
    server = normalize_server(given.server) if given.server else None
    if given.token:
        fallback = saved.server if saved else DEFAULT_SERVER
        return Login(server or fallback, given.token, given.workspace)
    if saved is None:
        raise NotLoggedIn("not logged in: run `tollgate login` (or pass --server and --token)")
    if server and server != saved.server:
        raise NotLoggedIn(
            f"not logged in to {server}: run `tollgate login --server {server}` or pass --token"
        )
    return Login(saved.server, saved.token, given.workspace or saved.workspace)


def client_for(
    given: Connection, env: Mapping[str, str] | None = None, transport: Transport | None = None
) -> ApiClient:
    login = resolve(given, load_login(os.environ if env is None else env))
    return ApiClient(login.server, login.token, login.workspace, transport=transport)


def err_console() -> Console:
    return Console(stderr=True, highlight=False, soft_wrap=True)


def out_console() -> Console:
    return Console(highlight=False, soft_wrap=True)


def _line(error: TollgateError) -> str:
    if isinstance(error, ApiError):
        hint = ""
        if error.http_status == 401:
            hint = ": check the token, or run `tollgate login`"
        elif error.code == "workspace_required":
            hint = " (pass --workspace, or log in with one)"
        return f"error: {error.message} ({error.http_status} {error.code}){hint}"
    return f"error: {error.message}"


@contextmanager
def reported_errors() -> Iterator[None]:
    """Turn tollgate errors into one line on stderr and exit code 1."""
    try:
        yield
    except TollgateError as error:
        err_console().print(_line(error), markup=False)
        raise typer.Exit(1) from error
