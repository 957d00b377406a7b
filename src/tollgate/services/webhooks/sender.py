"""One webhook delivery attempt: signed, to a checked address, never redirected.

``WebhookSender.send`` runs the SSRF guard (``targets``) again, then posts the body with
aiohttp through a resolver pinned to the addresses the guard checked, so the connection goes
to one of them and not to a fresh DNS answer; TLS still verifies the URL's host name. A
redirect is not followed: it counts as a failed attempt, like a 4xx or 5xx, a timeout or a
refused connection. The answer's body is not kept (only its status), so a receiver cannot make
tollgate store or relay anything. Nothing here retries: the outbox decides when to try again.
"""

from __future__ import annotations

import socket
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult

from tollgate import webhooks
from tollgate.core.clock import Clock
from tollgate.core.errors import BadRequest
from tollgate.services.webhooks.targets import (
    IpAddress,
    Resolver,
    checked_addresses,
    parse_target,
    system_resolver,
)

DEFAULT_TIMEOUT_S: Final = 10.0
USER_AGENT: Final = "tollgate-webhooks/1"


@dataclass(frozen=True, slots=True)
class Attempt:
    """How one attempt went: ``ok`` for a 2xx answer; otherwise ``error`` says why."""

    ok: bool
    status: int | None  # the receiver's HTTP status, if it answered
    error: str | None
    duration_ms: int


class PinnedResolver(AbstractResolver):
    """Answers for one host with the addresses already checked, and refuses every other host."""

    def __init__(self, host: str, addresses: Sequence[IpAddress]) -> None:
        self._host = host
        self._addresses = list(addresses)

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        if host.strip("[]").lower() != self._host:
            raise OSError(f"{host} is not the checked webhook host")
        return [
            ResolveResult(
                hostname=host,
                host=str(address),
                port=port,
                family=socket.AF_INET6 if address.version == 6 else socket.AF_INET,
                proto=0,
                flags=socket.AI_NUMERICHOST,
            )
            for address in self._addresses
        ]

    async def close(self) -> None:
        return None


class WebhookSender:
    def __init__(
        self,
        clock: Clock,
        *,
        resolve: Resolver = system_resolver,
        allow_private: bool = False,
        timeout_s: float = DEFAULT_TIMEOUT_S,
    ) -> None:
        self._clock = clock
        self._resolve = resolve
        self._allow_private = allow_private
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)

    async def send(self, url: str, body: bytes, secrets: Sequence[str]) -> Attempt:
        """Post ``body`` (the JSON payload) to ``url``, signed with every secret in ``secrets``."""
        started = self._clock.monotonic()
        try:
            target = parse_target(url, allow_private=self._allow_private)
            addresses = await checked_addresses(target, self._resolve, allow_private=self._allow_private)
        except BadRequest as exc:
            return self._attempt(started, None, exc.message)
        headers = {
            "content-type": "application/json",
            "user-agent": USER_AGENT,
            webhooks.SIGNATURE_HEADER: webhooks.sign(body, secrets, int(self._clock.now().timestamp())),
        }
        connector = aiohttp.TCPConnector(resolver=PinnedResolver(target.host, addresses), force_close=True)
        try:
            async with (
                aiohttp.ClientSession(connector=connector, timeout=self._timeout) as session,
                session.post(target.url, data=body, headers=headers, allow_redirects=False) as answer,
            ):
                status = answer.status
        except TimeoutError:
            return self._attempt(started, None, "timed out")
        except aiohttp.ClientError as exc:
            return self._attempt(started, None, f"could not connect: {type(exc).__name__}")
        if 300 <= status < 400:
            return self._attempt(started, status, "redirect not followed")
        error = None if 200 <= status < 300 else f"answered {status}"
        return self._attempt(started, status, error)

    def _attempt(self, started: float, status: int | None, error: str | None) -> Attempt:
        duration = round((self._clock.monotonic() - started) * 1000)
        return Attempt(error is None, status, error, duration)
