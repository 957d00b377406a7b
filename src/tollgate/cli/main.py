"""``tollgate``: the command line."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from tollgate import __version__
from tollgate.cli import account, export, usage
from tollgate.cli.keys import rotate_master_key
from tollgate.cli.serve import serve as run_server
from tollgate.core.settings import load_settings
from tollgate.store.migrations import current_revision, migrate
from tollgate.store.repos import open_store

app = typer.Typer(no_args_is_help=True, add_completion=False, help="tollgate: a self-hosted LLM gateway.")
console = Console(stderr=True)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to listen on (default 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default 8787).")] = None,
    workers: Annotated[int | None, typer.Option(help="Worker processes.")] = None,
    home: Annotated[Path | None, typer.Option(help="Data folder (default ./.tollgate).")] = None,
    demo: Annotated[
        bool, typer.Option("--demo", help="Run the provider simulator and a demo workspace.")
    ] = False,
) -> None:
    """Start the gateway."""
    run_server({"host": host, "port": port, "workers": workers, "home": home, "demo": demo or None})


@app.command("migrate")
def migrate_command() -> None:
    """Apply database migrations (also done on every start)."""

    async def run() -> str | None:
        settings = load_settings(env=os.environ)
        settings.home.mkdir(parents=True, exist_ok=True)
        store = await open_store(settings.sqlalchemy_url)
        try:
            await migrate(store.engine)
            return await current_revision(store.engine)
        finally:
            await store.close()

    console.print(f"database at revision {asyncio.run(run())}")


@app.command("mock-upstream")
def mock_upstream(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.")] = 8789,
) -> None:
    """Run the provider simulator alone (OpenAI, Anthropic, Gemini and the OpenAI-compatible family)."""
    from tollgate.testing import run_forever

    console.print(
        f"provider simulator on http://{host}:{port} (e.g. OpenAI base URL http://{host}:{port}/openai/v1)"
    )
    run_forever(host, port)


@app.command("rotate-master-key")
def rotate_master_key_command(
    new_key: Annotated[
        str | None, typer.Option(envvar="TOLLGATE_NEW_MASTER_KEY", help="Use this key.")
    ] = None,
) -> None:
    """Re-seal every stored provider secret under a new master key."""
    settings = load_settings(env=os.environ)
    result = asyncio.run(rotate_master_key(settings, new_key))
    console.print(f"re-sealed {result.resealed} credentials under master key {result.new_key_id}")
    if result.new_key_text:
        console.print("Set TOLLGATE_MASTER_KEY to the new key before the next restart:")
        typer.echo(result.new_key_text)


@app.command()
def version() -> None:
    """Print the version."""
    typer.echo(__version__)


app.command()(account.login)
app.command()(account.logout)
app.command()(account.whoami)
app.command()(usage.status)
app.command("requests")(usage.list_requests)
app.command()(export.export)


def main() -> None:
    app()
