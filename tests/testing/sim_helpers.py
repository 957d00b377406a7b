"""Raw-HTTP helpers: read an SSE body the way a careful client would, frame by frame."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import httpx2

from tollgate.core import jsonx

_SEPARATOR = re.compile(rb"\r\n\r\n|\n\n")


@dataclass(frozen=True)
class Frame:
    raw: bytes
    event: str | None
    data: str | None
    comment: bool

    def json(self) -> Any:
        assert self.data is not None
        return jsonx.loads(self.data)


def split_frames(body: bytes) -> list[Frame]:
    """Every SSE frame of a complete body, comments included."""
    frames = []
    for raw in _SEPARATOR.split(body):
        if not raw:
            continue
        event = data = None
        comment = False
        for line in re.split(rb"\r\n|\n", raw):
            if line.startswith(b":"):
                comment = True
            elif line.startswith(b"event: "):
                event = line[7:].decode()
            elif line.startswith(b"data: "):
                data = line[6:].decode()
        frames.append(Frame(raw, event, data, comment))
    return frames


def data_frames(body: bytes) -> list[Any]:
    """The JSON of every data frame except ``[DONE]``."""
    return [f.json() for f in split_frames(body) if f.data is not None and f.data != "[DONE]"]


def post(url: str, body: dict[str, Any], *, key: str = "sk-test", **headers: str) -> httpx2.Response:
    all_headers = {"authorization": f"Bearer {key}", **headers}
    with httpx2.Client(timeout=10) as client:
        return client.post(url, json=body, headers=all_headers)


CHAT: dict[str, Any] = {"model": "m-1", "messages": [{"role": "user", "content": "one two three"}]}
# count_prompt: 3 words + 4 per message
CHAT_PROMPT_TOKENS = 7
