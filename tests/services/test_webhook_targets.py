"""The webhook SSRF guard: which URLs may be registered and which addresses a delivery may reach.
Resolution goes through a fake resolver (no DNS in tests)."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence

import pytest

from tollgate.core.errors import BadRequest
from tollgate.services.webhooks.targets import (
    Resolver,
    WebhookTarget,
    checked_addresses,
    is_public,
    parse_target,
)


def resolver(answers: Mapping[str, Sequence[str]]) -> Resolver:
    async def resolve(host: str, port: int) -> Sequence[str]:
        if host not in answers:
            raise OSError(f"no such host {host}")
        return answers[host]

    return resolve


@pytest.mark.parametrize(
    ("url", "host", "port"),
    [
        ("https://hooks.example.com/tollgate", "hooks.example.com", 443),
        ("https://Hooks.Example.com:8443/a?b=c", "hooks.example.com", 8443),
        ("https://bücher.example/hook", "xn--bcher-kva.example", 443),
        ("https://8.8.8.8/hook", "8.8.8.8", 443),
        ("https://[2606:4700:4700::1111]/hook", "2606:4700:4700::1111", 443),
    ],
)
def test_public_https_urls_are_accepted(url: str, host: str, port: int) -> None:
    target = parse_target(url)
    assert (target.host, target.port) == (host, port)


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("http://hooks.example.com/", "https"),
        ("ftp://hooks.example.com/", "https"),
        ("hooks.example.com/path", "https"),
        ("https:///path-only", "host"),
        ("https://user:secret@hooks.example.com/", "user name or password"),
        ("https://hooks.example.com:99999/", "does not parse"),
        ("https://" + "a" * 2050 + ".com/", "2048"),
        ("", "1 to 2048"),
        ("https://127.0.0.1/", "not a public address"),
        ("https://169.254.169.254/latest/meta-data/", "not a public address"),
        ("https://10.1.2.3/", "not a public address"),
        ("https://[::1]/", "not a public address"),
        ("https://[::ffff:127.0.0.1]/", "not a public address"),
        ("https://[fd00:ec2::254]/", "not a public address"),
    ],
)
def test_bad_urls_are_refused_with_a_reason(url: str, says: str) -> None:
    with pytest.raises(BadRequest, match=says) as caught:
        parse_target(url)
    assert caught.value.code == "invalid_webhook_url" and caught.value.http_status == 400


def test_the_development_flag_allows_http_and_private_addresses() -> None:
    assert parse_target("http://127.0.0.1:9000/hook", allow_private=True).port == 9000
    assert parse_target("https://169.254.169.254/", allow_private=True).host == "169.254.169.254"
    with pytest.raises(BadRequest, match="https"):
        parse_target("ftp://127.0.0.1/", allow_private=True)


async def test_every_resolved_address_must_be_public() -> None:
    """One private answer among public ones is enough to refuse (DNS rebinding, split answers)."""
    target = parse_target("https://hooks.example.com/")
    resolve = resolver(
        {
            "hooks.example.com": ["93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946", "93.184.216.34"],
            "sneaky.example.com": ["93.184.216.34", "127.0.0.1"],
            "metadata.example.com": ["169.254.169.254"],
        }
    )
    assert [str(a) for a in await checked_addresses(target, resolve)] == [
        "93.184.216.34",
        "2606:2800:220:1:248:1893:25c8:1946",
    ]
    for host, address in (("sneaky.example.com", "127.0.0.1"), ("metadata.example.com", "169.254.169.254")):
        with pytest.raises(BadRequest, match=f"{host} resolves to {address}"):
            await checked_addresses(WebhookTarget(f"https://{host}/", host, 443), resolve)
    private = WebhookTarget("https://metadata.example.com/", "metadata.example.com", 443)
    assert await checked_addresses(private, resolve, allow_private=True) == [
        ipaddress.ip_address("169.254.169.254")
    ]


async def test_a_host_that_does_not_resolve_is_refused() -> None:
    cases: list[dict[str, list[str]]] = [{}, {"hooks.example.com": []}]
    for answers in cases:
        with pytest.raises(BadRequest, match="does not resolve"):
            await checked_addresses(parse_target("https://hooks.example.com/"), resolver(answers))


async def test_an_ip_literal_is_checked_without_a_lookup() -> None:
    async def no_dns(host: str, port: int) -> Sequence[str]:
        raise AssertionError("looked up an IP literal")

    assert await checked_addresses(parse_target("https://8.8.8.8/"), no_dns) == [
        ipaddress.ip_address("8.8.8.8")
    ]


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("8.8.8.8", True),
        ("2606:4700:4700::1111", True),
        ("::ffff:8.8.8.8", True),
        ("64:ff9b::808:808", True),  # NAT64 of 8.8.8.8
        ("127.0.0.1", False),
        ("10.0.0.1", False),
        ("172.16.5.4", False),
        ("192.168.1.1", False),
        ("169.254.169.254", False),
        ("100.64.0.1", False),  # shared address space (carrier-grade NAT)
        ("0.0.0.0", False),
        ("255.255.255.255", False),
        ("224.0.0.1", False),
        ("192.0.2.1", False),  # documentation
        ("::1", False),
        ("::", False),
        ("fe80::1", False),
        ("fd00:ec2::254", False),  # AWS's IPv6 metadata address
        ("::ffff:169.254.169.254", False),
        ("2002:7f00:1::", False),  # 6to4 of 127.0.0.1
        ("2001:0:4136:e378:8000:63bf:80ff:fffe", False),  # Teredo of 127.0.0.1
        ("64:ff9b::a00:1", False),  # NAT64 of 10.0.0.1
        ("ff02::1", False),
    ],
)
def test_which_addresses_are_public(address: str, public: bool) -> None:
    assert is_public(ipaddress.ip_address(address)) is public
