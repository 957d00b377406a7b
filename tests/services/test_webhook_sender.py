"""One webhook delivery attempt against a real local receiver (aiohttp on loopback, so the
development flag is on): signed so the receiver's helper verifies it, sent to the checked
address, redirects and failures reported, never followed."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field

import pytest
from aiohttp import web

from tollgate.core.clock import FakeClock
from tollgate.services.webhooks.sender import WebhookSender
from tollgate.webhooks import SIGNATURE_HEADER, WebhookVerificationError, new_secret, verify

BODY = b'{"id":"evt_1","event":"budget.alert","data":{"budgetId":"bud_1"}}'


@dataclass
class Receiver:
    port: int
    seen: list[tuple[str, bytes, str | None]] = field(default_factory=list)  # path, body, signature

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    state = Receiver(0)

    async def handle(request: web.Request) -> web.StreamResponse:
        state.seen.append((request.path, await request.read(), request.headers.get(SIGNATURE_HEADER)))
        if request.path == "/redirect":
            raise web.HTTPFound("http://127.0.0.1:1/elsewhere")
        if request.path == "/fail":
            return web.Response(status=500, text="nope")
        if request.path == "/slow":
            await asyncio.sleep(2)
        return web.Response(status=204)

    app = web.Application()
    app.router.add_route("POST", "/{tail:.*}", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    state.port = runner.addresses[0][1]
    yield state
    await runner.cleanup()


def sender(clock: FakeClock, timeout_s: float = 5.0) -> WebhookSender:
    async def resolve(host: str, port: int) -> Sequence[str]:
        return {"hooks.test": ["127.0.0.1"]}.get(host, [])

    return WebhookSender(clock, resolve=resolve, allow_private=True, timeout_s=timeout_s)


async def test_a_delivery_arrives_signed_and_verifies(receiver: Receiver) -> None:
    clock = FakeClock()
    secret = new_secret()
    attempt = await sender(clock).send(receiver.url("/hook"), BODY, [secret])
    assert (attempt.ok, attempt.status, attempt.error) == (True, 204, None)
    [(path, body, signature)] = receiver.seen
    assert (path, body) == ("/hook", BODY)
    now = clock.now().timestamp()
    assert verify(body, signature, secret, now=now) == int(now)
    with pytest.raises(WebhookVerificationError):
        verify(body + b" ", signature, secret, now=now)


async def test_the_connection_goes_to_the_checked_address(receiver: Receiver) -> None:
    """``hooks.test`` exists only in the guard's resolver: the delivery reaches the receiver,
    so it connected to the address the guard returned, not to a lookup of its own."""
    attempt = await sender(FakeClock()).send(receiver.url("/pinned", host="hooks.test"), BODY, [new_secret()])
    assert attempt.ok and receiver.seen[0][0] == "/pinned"


async def test_a_redirect_is_not_followed(receiver: Receiver) -> None:
    attempt = await sender(FakeClock()).send(receiver.url("/redirect"), BODY, [new_secret()])
    assert (attempt.ok, attempt.status, attempt.error) == (False, 302, "redirect not followed")
    assert [path for path, _, _ in receiver.seen] == ["/redirect"]


async def test_an_error_answer_and_a_timeout_are_failed_attempts(receiver: Receiver) -> None:
    failed = await sender(FakeClock()).send(receiver.url("/fail"), BODY, [new_secret()])
    assert (failed.ok, failed.status, failed.error) == (False, 500, "answered 500")
    slow = await sender(FakeClock(), timeout_s=0.2).send(receiver.url("/slow"), BODY, [new_secret()])
    assert (slow.ok, slow.status, slow.error) == (False, None, "timed out")


async def test_an_unreachable_receiver_is_a_failed_attempt(receiver: Receiver) -> None:
    attempt = await sender(FakeClock()).send("http://127.0.0.1:1/hook", BODY, [new_secret()])
    assert not attempt.ok and attempt.status is None
    assert attempt.error is not None and attempt.error.startswith("could not connect")


async def test_without_the_flag_a_private_address_is_never_contacted(receiver: Receiver) -> None:
    strict = WebhookSender(FakeClock())
    for url in (receiver.url("/hook"), receiver.url("/hook").replace("http://", "https://")):
        attempt = await strict.send(url, BODY, [new_secret()])
        assert not attempt.ok and attempt.status is None and attempt.error is not None
    assert receiver.seen == []
