"""The usage-log filters shared by ``tollgate requests`` and ``tollgate export`` (as ``/v1/requests``)."""

from __future__ import annotations

from typing import Annotated

import typer

from tollgate.cli.client import Params

ProviderOption = Annotated[str | None, typer.Option("--provider", help="Only this provider.")]
ModelOption = Annotated[str | None, typer.Option("--model", help="Only this model.")]
FeatureOption = Annotated[str | None, typer.Option("--feature", help="Only this feature tag.")]
StatusOption = Annotated[str | None, typer.Option("--status", help="Only this status (success, error).")]
KeyOption = Annotated[str | None, typer.Option("--key", help="Only calls made with this key id.")]
FromOption = Annotated[
    str | None, typer.Option("--from", help="From this day (YYYY-MM-DD) or ISO date-time, inclusive.")
]
ToOption = Annotated[
    str | None, typer.Option("--to", help="Up to this day (YYYY-MM-DD, included) or ISO date-time.")
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON document for scripts.")]


def query(**values: str | None) -> Params:
    """Query parameters from option values, leaving out the ones not given (``from_`` is ``from``)."""
    return [(name.rstrip("_"), value) for name, value in values.items() if value]
