"""LiteLLM proxy as an opt-in peer for ``bench/speed.py``: installed into its own virtual
environment under ``bench/out/`` (once; nothing of it enters tollgate's environment) and run
against the same simulator, one worker, pinned like tollgate.

Known pitfalls, handled here: a plain resolve of ``litellm[proxy]`` can backtrack for a very long
time on a lagging index, so ``uv`` installs it with an override that lowers ``certifi``'s floor;
the model cost map is read locally (``LITELLM_LOCAL_MODEL_COST_MAP``), retries are off, the master
key is not the default one, and the proxy gets a long time to start.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.error import URLError
from urllib.request import Request, urlopen

from _common import OUT, free_port, pinned, process_tree

VENV = OUT / "litellm-venv"
OVERRIDES = "certifi>=2023.7.22\n"
START_TIMEOUT_S = 300.0


def install() -> Path:
    """The ``litellm`` executable, installing it first if needed."""
    executable = VENV / "bin" / "litellm"
    if executable.exists():
        return executable
    OUT.mkdir(exist_ok=True)
    subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    python = VENV / "bin" / "python"
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", "uv"], check=True)
    overrides = OUT / "litellm-overrides.txt"
    overrides.write_text(OVERRIDES)
    subprocess.run(
        [str(VENV / "bin" / "uv"), "pip", "install", "--python", str(python), "--override", str(overrides),
         "litellm[proxy]"],
        check=True,
    )  # fmt: skip
    return executable


def _config(sim_root: str, master_key: str) -> dict[str, object]:
    params = {"api_base": f"{sim_root}/openai/v1", "api_key": "sk-bench-0000"}
    models = [
        {"model_name": name, "litellm_params": {"model": f"openai/{name}", **params}}
        for name in ("gpt-4o-mini", "text-embedding-3-small")
    ]
    return {
        "model_list": models,
        "litellm_settings": {"num_retries": 0, "request_timeout": 60, "telemetry": False},
        "general_settings": {"master_key": master_key},
    }


@contextmanager
def litellm(sim_root: str, cpus: set[int]) -> Iterator[tuple[str, str, list[int]]]:
    """(its OpenAI-style base URL, its key, its processes)."""
    executable = install()
    master_key = "sk-bench-" + secrets.token_hex(12)
    port = free_port()
    config = OUT / "litellm-config.yaml"
    config.write_text(json.dumps(_config(sim_root, master_key)))  # JSON is YAML
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True", "LITELLM_LOG": "ERROR"}
    with (OUT / "litellm.log").open("ab") as log:
        process = subprocess.Popen(
            [str(executable), "--config", str(config), "--host", "127.0.0.1", "--port", str(port),
             "--num_workers", "1"],
            env=env, stdout=log, stderr=subprocess.STDOUT, preexec_fn=pinned(cpus),
        )  # fmt: skip
    root = f"http://127.0.0.1:{port}"
    try:
        _wait(root, master_key, process)
        yield root + "/v1", master_key, process_tree(process.pid)
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait(root: str, key: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    request = Request(root + "/health/liveliness", headers={"authorization": f"Bearer {key}"})
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("LiteLLM exited while starting; see bench/out/litellm.log")
        try:
            with urlopen(request, timeout=2) as answer:
                if answer.status == 200:
                    return
        except (URLError, OSError):
            pass
        time.sleep(0.5)
    raise RuntimeError(f"LiteLLM did not start within {START_TIMEOUT_S:.0f} s")
