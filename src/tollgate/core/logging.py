"""JSON log lines, one per event, with secrets scrubbed from every message.

The scrubber is a last line of defence: code never logs a key on purpose, but a message
built from an upstream error or a driver exception could carry one.
"""

from __future__ import annotations

import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any

import orjson

_SECRET = re.compile(
    r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]{8,}"
    r"|\b(tg|tgp|es|sk|pk|rk|whsec)[_-][A-Za-z0-9_-]{8,}"
    r"|\bAIza[0-9A-Za-z_-]{20,}"
    r"|(x-api-key|x-goog-api-key|api-key|authorization)([\"']?\s*[:=]\s*[\"']?)[^\s\"',}]{8,}"
)


def scrub(text: str) -> str:
    def hide(match: re.Match[str]) -> str:
        raw = match.group(0)
        return raw[:4] + "…" + raw[-4:] if len(raw) > 12 else "…"

    return _SECRET.sub(hide, text)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": scrub(record.getMessage()),
        }
        for name in ("request_id", "method", "path", "status", "latency_ms", "provider", "code"):
            value = getattr(record, name, None)
            if value is not None:
                entry[name] = value
        if record.exc_info:
            entry["exc"] = scrub(self.formatException(record.exc_info))
        return orjson.dumps(entry).decode()


def configure_logging(level: str = "info") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.propagate = True
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
