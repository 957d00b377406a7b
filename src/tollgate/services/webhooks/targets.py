"""Where a webhook may be delivered: the guard against server-side request forgery.

A webhook URL is chosen by a workspace admin, so without a guard tollgate could be made to post
to its own network: the cloud metadata service, a database's admin port, a neighbour's API.
The guard runs at registration and again before every delivery, because DNS answers change:

- the URL is ``https`` with a host and no user info, at most 2,048 characters;
- every address the host resolves to is a public unicast address: not private, loopback,
  link-local (169.254.169.254 lives there), shared (100.64/10), multicast, reserved or
  unspecified, also when wrapped in IPv6 (IPv4-mapped, 6to4, Teredo, NAT64);
- the delivery then connects to one of the addresses checked here, never to a fresh lookup.

``allow_private`` (``TOLLGATE_ALLOW_PRIVATE_WEBHOOKS=1``, for local development and tests only)
accepts ``http`` and any address.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Final
from urllib.parse import urlsplit

from tollgate.core.errors import BadRequest

MAX_URL_CHARS: Final = 2048
INVALID_URL: Final = "invalid_webhook_url"
IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
# host, port -> the addresses it resolves to (as text); injectable so tests need no DNS.
Resolver = Callable[[str, int], Awaitable[Sequence[str]]]
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


@dataclass(frozen=True, slots=True)
class WebhookTarget:
    url: str
    host: str  # lower case, IDNA-encoded
    port: int


def parse_target(url: str, *, allow_private: bool = False) -> WebhookTarget:
    """Check the URL's form (and its address, when the host is an IP literal)."""
    if not url or len(url) > MAX_URL_CHARS:
        raise BadRequest(f"a webhook url is 1 to {MAX_URL_CHARS} characters", code=INVALID_URL)
    try:
        parts = urlsplit(url.strip())
        port = parts.port
        host = (parts.hostname or "").encode("idna").decode("ascii").lower()
    except (ValueError, UnicodeError) as exc:
        raise BadRequest("the webhook url does not parse", code=INVALID_URL) from exc
    schemes = ("https", "http") if allow_private else ("https",)
    if parts.scheme not in schemes:
        raise BadRequest("a webhook url must use https", code=INVALID_URL)
    if not host:
        raise BadRequest("a webhook url needs a host", code=INVALID_URL)
    if parts.username is not None or parts.password is not None:
        raise BadRequest("a webhook url must not carry a user name or password", code=INVALID_URL)
    literal = _ip_literal(host)
    if literal is not None and not allow_private:
        _require_public(host, [literal])
    return WebhookTarget(url.strip(), host, port or (443 if parts.scheme == "https" else 80))


async def checked_addresses(
    target: WebhookTarget, resolve: Resolver, *, allow_private: bool = False
) -> list[IpAddress]:
    """Every address of the target's host, all of them public (or ``allow_private``); the
    delivery must connect to one of these. Raises ``BadRequest`` (``invalid_webhook_url``)."""
    literal = _ip_literal(target.host)
    if literal is not None:
        found = [literal]
    else:
        try:
            answers = await resolve(target.host, target.port)
        except OSError as exc:
            raise BadRequest(f"{target.host} does not resolve", code=INVALID_URL) from exc
        found = [ipaddress.ip_address(a.split("%", 1)[0]) for a in answers]
    if not found:
        raise BadRequest(f"{target.host} does not resolve", code=INVALID_URL)
    if not allow_private:
        _require_public(target.host, found)
    return list(dict.fromkeys(found))


def is_public(address: IpAddress) -> bool:
    """A public unicast address, looking through IPv6 forms that carry an IPv4 one."""
    if isinstance(address, ipaddress.IPv6Address):
        inner = address.ipv4_mapped or address.sixtofour or (address.teredo or (None, None))[1]
        if inner is None and address in _NAT64:
            inner = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if inner is not None:
            return is_public(inner)
    return address.is_global and not address.is_multicast


async def system_resolver(host: str, port: int) -> list[str]:
    """The operating system's answer (``getaddrinfo``), TCP addresses only."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


def _require_public(host: str, addresses: Sequence[IpAddress]) -> None:
    refused = [a for a in addresses if not is_public(a)]
    if refused:
        raise BadRequest(
            f"{host} resolves to {refused[0]}, which is not a public address",
            code=INVALID_URL,
        )


def _ip_literal(host: str) -> IpAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None
