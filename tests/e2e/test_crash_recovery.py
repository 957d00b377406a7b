"""A usage log that loses nothing: ``tollgate serve`` as a real process, killed and restarted.

- SIGKILL under load: every response a client received whole has its record after a restart on
  the same home (the journal is replayed), and no record is there twice. SQLite, and PostgreSQL
  when ``TOLLGATE_TEST_DATABASE_URL`` is set.
- SIGTERM with a slow stream in flight: the client gets the whole stream, the process exits 0,
  and the record is in the database. A stream that outlasts the grace period is cut (the client
  sees a broken transfer, not a short answer) and recorded as interrupted, with an estimate.

The upstream simulator runs in this test process; the gateway is a child process started the way
an operator starts it (``tollgate serve``, settings from ``TOLLGATE_*`` variables).
"""

from __future__ import annotations

import asyncio
import signal
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

import asyncpg
import httpx2
import pytest

from tests.support.databases import BACKENDS, postgres_server_url, provision_database
from tests.support.gateway import Tenant, admin_call, make_tenant
from tests.support.process import ServerProcess
from tollgate.testing import Scenario, Simulator, SimulatorServer


def get_record(server: ServerProcess, workspace: str, request_id: str) -> httpx2.Response:
    return admin_call(server, "GET", f"/v1/requests/{request_id}", workspace=workspace)  # type: ignore[arg-type]


def all_record_ids(server: ServerProcess, workspace: str) -> list[str]:
    ids: list[str] = []
    cursor = None
    while True:
        params = {"limit": 500, **({"cursor": cursor} if cursor else {})}
        page = admin_call(server, "GET", "/v1/requests", workspace=workspace, params=params)  # type: ignore[arg-type]
        assert page.status_code == 200, page.text
        body = page.json()
        ids.extend(record["id"] for record in body["data"])
        cursor = body["nextCursor"]
        if not cursor:
            return ids


@pytest.fixture
def quick_sim() -> Iterator[SimulatorServer]:
    """A simulator of its own: short paced streams, no request log (hundreds of calls)."""
    with SimulatorServer(
        Simulator(defaults=Scenario(chunk_delay=0.01, chunks=4, output_tokens=8), record=False)
    ) as server:
        yield server


class Backend:
    """The database a server process uses, and a way to stop the journal writer from moving rows.

    ``held()`` takes a write lock on the usage table from this test process: the gateway keeps
    serving (nothing on the hot path touches the database) while its records pile up in the
    journal, so a kill in that state proves the journal replay, not the writer's speed.
    """

    def __init__(self, kind: str, home: Path, settings: dict[str, str], schema: str | None = None) -> None:
        self.kind = kind
        self.home = home
        self.settings = settings
        self.schema = schema

    def usage_rows(self) -> int:
        """Rows in the usage table, read beside the lock (readers are not blocked by it)."""
        if self.kind == "sqlite":
            with closing(sqlite3.connect(self.home / "tollgate.db", timeout=30)) as conn:
                count: int = conn.execute("SELECT count(*) FROM usage_records").fetchone()[0]
                return count

        async def count_rows() -> int:
            conn = await asyncpg.connect(postgres_server_url())
            try:
                found: int = await conn.fetchval(f'SELECT count(*) FROM "{self.schema}".usage_records')
                return found
            finally:
                await conn.close()

        return asyncio.run(count_rows())

    @contextmanager
    def held(self) -> Iterator[None]:
        if self.kind == "sqlite":
            conn = sqlite3.connect(self.home / "tollgate.db", isolation_level=None, timeout=30)
            try:
                conn.execute("BEGIN EXCLUSIVE")
                yield
                conn.execute("ROLLBACK")
            finally:
                conn.close()
            return
        acquired, release = threading.Event(), threading.Event()

        async def hold() -> None:
            conn = await asyncpg.connect(postgres_server_url())
            try:
                async with conn.transaction():
                    await conn.execute(f'LOCK TABLE "{self.schema}".usage_records IN EXCLUSIVE MODE')
                    acquired.set()
                    await asyncio.to_thread(release.wait)
            finally:
                await conn.close()

        holder = threading.Thread(target=asyncio.run, args=(hold(),), daemon=True)
        holder.start()
        try:
            assert acquired.wait(30), "could not lock the usage table"
            yield
        finally:
            release.set()
            holder.join(timeout=30)


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    """SQLite in the server's home, or a fresh PostgreSQL schema (skipped without a server)."""
    home = tmp_path / "home"
    if request.param == "sqlite":
        yield Backend("sqlite", home, {})
        return
    db = asyncio.run(provision_database("postgres", tmp_path))
    try:
        yield Backend("postgres", home, {"database_url": db.url}, db.schema)
    finally:
        asyncio.run(db.cleanup())


# --- 6. SIGKILL under load -------------------------------------------------------------------

PROMPT = [{"role": "user", "content": "count to eight"}]


def _plain_openai(client: httpx2.Client, tenant: Tenant) -> str | None:
    response = client.post(
        "/v1/chat/completions", json={"model": "gpt-4o-mini", "messages": PROMPT}, headers=tenant.headers()
    )
    if response.status_code == 200 and response.json()["choices"][0]["message"]["content"]:
        return response.headers["x-tollgate-request-id"]
    return None


def _plain_proxy(client: httpx2.Client, tenant: Tenant) -> str | None:
    body = {"provider": "openai", "payload": {"model": "gpt-4o-mini", "messages": PROMPT}}
    response = client.post("/api/proxy", json=body, headers=tenant.headers())
    if response.status_code == 200 and response.json()["usage"]["total_tokens"]:
        return response.headers["x-tollgate-request-id"]
    return None


def _streamed(
    client: httpx2.Client, tenant: Tenant, path: str, body: dict[str, Any], end: bytes
) -> str | None:
    with client.stream("POST", path, json=body, headers=tenant.headers()) as response:
        data = b"".join(response.iter_raw())
        if response.status_code == 200 and data.rstrip().endswith(end):
            return response.headers["x-tollgate-request-id"]
    return None


def _stream_openai(client: httpx2.Client, tenant: Tenant) -> str | None:
    body = {"model": "gpt-4o-mini", "messages": PROMPT, "stream": True}
    return _streamed(client, tenant, "/v1/chat/completions", body, b"data: [DONE]")


def _stream_anthropic(client: httpx2.Client, tenant: Tenant) -> str | None:
    body = {"model": "claude-haiku-4-5", "max_tokens": 64, "messages": PROMPT, "stream": True}
    return _streamed(client, tenant, "/v1/messages", body, b'data: {"type":"message_stop"}')


CALLS = (_plain_openai, _stream_openai, _plain_proxy, _stream_anthropic)


class Load:
    """Client threads that call the gateway until stopped, remembering every answer received whole."""

    def __init__(self, tenant: Tenant, threads: int = 8) -> None:
        self.tenant = tenant
        self.whole: list[str] = []
        self.failures = 0
        self.stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._run, args=(i,), daemon=True) for i in range(threads)]

    def __enter__(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for thread in self._threads:
            thread.join(timeout=60)
        assert not any(t.is_alive() for t in self._threads), "a client thread hung"

    @property
    def count(self) -> int:
        with self._lock:
            return len(self.whole)

    def _run(self, index: int) -> None:
        with httpx2.Client(base_url=self.tenant.url, timeout=30) as client:
            n = index
            while not self.stop.is_set():
                call = CALLS[n % len(CALLS)]
                n += 1
                try:
                    request_id = call(client, self.tenant)
                except httpx2.HTTPError:
                    request_id = None  # cut off by the kill: not received whole, nothing promised
                with self._lock:
                    if request_id is None:
                        self.failures += 1
                    else:
                        self.whole.append(request_id)


def wait_until(predicate: Any, deadline: float, what: str) -> None:
    end = time.monotonic() + deadline
    while not predicate():
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def test_sigkill_under_load_loses_no_record_of_a_whole_response(
    tmp_path: Path, quick_sim: SimulatorServer, backend: Backend
) -> None:
    home = backend.home
    first = ServerProcess(home, tmp_path / "first.log", **backend.settings).start()
    try:
        tenant = make_tenant(first, quick_sim.root)  # type: ignore[arg-type]
        with backend.held():
            with Load(tenant) as load:
                wait_until(lambda: load.count >= 150, 60, "150 whole responses")
                first.signal(signal.SIGKILL)
                assert first.wait() == -signal.SIGKILL
            whole = list(load.whole)
            # The database took none of them: whatever is found later came from the journal.
            assert backend.usage_rows() == 0
    finally:
        first.kill()
    assert len(whole) >= 150
    assert len(set(whole)) == len(whole), "the gateway handed out a request id twice"

    with ServerProcess(home, tmp_path / "second.log", **backend.settings) as second:
        workspace = tenant.workspace_id

        def missing() -> set[str]:
            return set(whole) - set(all_record_ids(second, workspace))

        wait_until(lambda: not missing(), 30, "the journal replay")
        for request_id in whole:
            response = get_record(second, workspace, request_id)
            assert response.status_code == 200, f"{request_id}: {response.text}"
            assert response.json()["status"] == "success"
        listed = all_record_ids(second, workspace)
        assert len(listed) == len(set(listed)), "a record was written twice"
        # Calls in flight at the kill may have a record too (appended before their last byte went out).
        assert len(listed) >= len(whole)


# --- 7. SIGTERM with a stream in flight --------------------------------------------------------


def test_sigterm_lets_a_slow_stream_finish_then_exits_cleanly(
    tmp_path: Path, sim_server: SimulatorServer, sim: Simulator
) -> None:
    home = tmp_path / "home"
    chunks, delay = 10, 0.3
    sim.enqueue(Scenario(chunk_delay=delay, chunks=chunks, output_tokens=20))
    server = ServerProcess(home, tmp_path / "first.log").start()
    try:
        tenant = make_tenant(server, sim_server.root)  # type: ignore[arg-type]
        received = b""
        signalled_after = 0
        with httpx2.stream(
            "POST",
            server.url + "/v1/chat/completions",
            json={"model": "gpt-4o-mini", "messages": PROMPT, "stream": True},
            headers=tenant.headers(),
            timeout=60,
        ) as response:
            request_id = response.headers["x-tollgate-request-id"]
            for piece in response.iter_raw():
                received += piece
                if not signalled_after and b"tok2" in received:
                    signalled_after = received.count(b"\n\n")
                    server.signal(signal.SIGTERM)
        assert signalled_after, "the stream was still in flight when the server was told to stop"
        assert received.rstrip().endswith(b"data: [DONE]"), "the client got the whole stream"
        text = b"".join(part for part in received.split(b'"content":"')[1:] if part).decode()
        assert all(f"tok{i}" in text for i in range(1, 21))
        assert server.wait() == 0, server.log_text()
    finally:
        server.kill()
    # The shutdown flushed the journal: the record is in the database without any replay.
    journal = home / "journal"
    leftover = [p.name for p in journal.glob("usage-*.jsonl")]
    assert leftover == [], f"journal segments not moved at shutdown: {leftover}"
    with ServerProcess(home, tmp_path / "second.log") as again:
        response = get_record(again, tenant.workspace_id, request_id)
        assert response.status_code == 200, response.text
        record = response.json()
        assert record["status"] == "success" and record["outputTokens"] == 20


def test_sigterm_cuts_a_stream_that_outlasts_the_grace_period_and_records_it(
    tmp_path: Path, sim_server: SimulatorServer, sim: Simulator
) -> None:
    home = tmp_path / "home"
    sim.enqueue(Scenario(chunk_delay=1.0, chunks=30, output_tokens=30))
    server = ServerProcess(home, tmp_path / "first.log", shutdown_grace=1).start()
    try:
        tenant = make_tenant(server, sim_server.root)  # type: ignore[arg-type]
        received = b""
        signalled = False
        with (
            httpx2.stream(
                "POST",
                server.url + "/v1/chat/completions",
                json={"model": "gpt-4o-mini", "messages": PROMPT, "stream": True},
                headers=tenant.headers(),
                timeout=60,
            ) as response,
            pytest.raises(httpx2.RemoteProtocolError),
        ):
            request_id = response.headers["x-tollgate-request-id"]
            for piece in response.iter_raw():
                received += piece
                if not signalled and b"tok1" in received:
                    signalled = True  # once: a second SIGTERM would make uvicorn quit at once
                    server.signal(signal.SIGTERM)
        assert signalled
        assert b"[DONE]" not in received, "the stream was cut, and the client can tell"
        assert server.wait() == 0, server.log_text()
    finally:
        server.kill()
    with ServerProcess(home, tmp_path / "second.log") as again:
        response = get_record(again, tenant.workspace_id, request_id)
        assert response.status_code == 200, response.text
        record = response.json()
        assert record["status"] == "error" and record["errorCode"] == "interrupted"
        assert record["estimated"] is True and record["outputTokens"] > 0
