"""``tollgate export``: stream ``/v1/exports/requests.csv`` to a file, with a progress bar.

The body goes to a temporary file beside the target, renamed over it only once the whole
answer has arrived: a failed or interrupted export leaves no half file (and an older export
of the same name untouched).
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import FileSizeColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from tollgate.cli.client import ApiClient, ApiError, Params
from tollgate.cli.filters import (
    FeatureOption,
    FromOption,
    KeyOption,
    ModelOption,
    ProviderOption,
    StatusOption,
    ToOption,
    query,
)
from tollgate.cli.session import (
    Connection,
    ServerOption,
    TokenOption,
    WorkspaceOption,
    client_for,
    err_console,
    out_console,
    reported_errors,
)
from tollgate.core.errors import BadRequest

OutputOption = Annotated[
    Path, typer.Option("--output", "-o", help="Where to write the CSV.", dir_okay=False, writable=True)
]


@dataclass(slots=True)
class RowCounter:
    """Counts CSV records as the bytes arrive, across chunk boundaries.

    A line end ends a record unless it is inside a quoted field; a quote inside a quoted
    field is doubled (RFC 4180), so every quote character flips "inside" and the count needs
    no parsing.
    """

    lines: int = 0
    quoted: bool = False

    def feed(self, chunk: bytes) -> None:
        if not self.quoted and b'"' not in chunk:
            self.lines += chunk.count(b"\n")
            return
        parts = chunk.split(b'"')
        for index, part in enumerate(parts):
            if self.quoted == (index % 2 == 1):  # outside quotes
                self.lines += part.count(b"\n")
        self.quoted ^= len(parts) % 2 == 0

    @property
    def rows(self) -> int:
        """Data rows: every record but the header."""
        return max(self.lines - 1, 0)


def download(client: ApiClient, params: Params, output: Path, progress: Progress) -> int:
    """Write the export to ``output`` (atomically) and return its number of data rows."""
    folder = output.resolve().parent
    if not folder.is_dir():
        raise BadRequest(f"cannot write {output}: the folder {folder} does not exist", code="invalid_output")
    counter = RowCounter()
    descriptor, temporary = tempfile.mkstemp(prefix=f".{output.name}.", suffix=".part", dir=folder)
    try:
        with (
            os.fdopen(descriptor, "wb") as handle,
            client.stream("/v1/exports/requests.csv", params, accept="text/csv") as response,
        ):
            if not response.headers.get("content-type", "").startswith("text/csv"):
                raise ApiError(
                    f"{client.server} did not answer with CSV: is it a tollgate server?",
                    code="not_csv",
                    status=response.status,
                )
            task = progress.add_task("exporting", total=None, rows=0)
            for chunk in response.chunks:
                handle.write(chunk)
                counter.feed(chunk)
                progress.update(task, advance=len(chunk), rows=counter.rows)
        os.replace(temporary, output)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return counter.rows


def export(
    output: OutputOption = Path("requests.csv"),
    provider: ProviderOption = None,
    model: ModelOption = None,
    feature: FeatureOption = None,
    status: StatusOption = None,
    key: KeyOption = None,
    from_: FromOption = None,
    to: ToOption = None,
    server: ServerOption = None,
    token: TokenOption = None,
    workspace: WorkspaceOption = None,
) -> None:
    """Export every matching call as CSV, newest first (filters as `tollgate requests`)."""
    params = query(
        provider=provider, model=model, feature=feature, status=status, key=key, from_=from_, to=to
    )
    errors = err_console()
    progress = Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        FileSizeColumn(),
        TextColumn("{task.fields[rows]:,} rows"),
        TimeElapsedColumn(),
        console=errors,
        transient=True,
        disable=not errors.is_terminal,  # scripts get the final count alone
    )
    with reported_errors():
        client = client_for(Connection(server, token, workspace))
        with progress:
            rows = download(client, params, output, progress)
    out_console().print(f"exported {rows:,} rows to {output}", markup=False)
