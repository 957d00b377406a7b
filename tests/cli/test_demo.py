"""``tollgate serve --demo``: a newcomer's first tracked call, exactly as the README shows it."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx2
import openai

from tests.support.process import free_port


def test_demo_prints_a_working_key_and_the_call_shows_up_with_its_cost(tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOLLGATE_")}
    env["TOLLGATE_HOME"] = str(tmp_path / "home")
    process = subprocess.Popen(
        [sys.executable, "-m", "tollgate", "serve", "--demo", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=env,
        text=True,
    )
    try:
        output = ""
        deadline = time.monotonic() + 60
        assert process.stdout is not None
        while "curl -s" not in output or "/v1/requests" not in output:
            assert time.monotonic() < deadline, output
            line = process.stdout.readline()
            assert line or process.poll() is None, output
            output += line
        key = re.search(r"Gateway key:\s+(tg_\S+)", output)
        assert key, output
        base = f"http://127.0.0.1:{port}"
        client = openai.OpenAI(base_url=base + "/v1", api_key=key.group(1), max_retries=0)
        raw = client.chat.completions.with_raw_response.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "Hello!"}]
        )
        assert raw.parse().choices[0].message.content
        request_id = raw.headers["x-tollgate-request-id"]
        record = None
        deadline = time.monotonic() + 10
        while record is None and time.monotonic() < deadline:
            listing = httpx2.get(base + "/v1/requests", headers={"authorization": f"Bearer {key.group(1)}"})
            assert listing.status_code == 200
            record = next((r for r in listing.json()["data"] if r["id"] == request_id), None)
            time.sleep(0.05)
        assert record is not None
        assert record["costUsd"] == raw.headers["x-tollgate-cost"] and float(record["costUsd"]) > 0
        assert record["provider"] == "openai" and record["model"] == "gpt-4o-mini"
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
    assert process.returncode == 0
