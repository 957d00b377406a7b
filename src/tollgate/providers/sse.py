"""Incremental server-sent-events decoder for relayed streams.

Follows the WHATWG rules as the openai/anthropic SDKs implement them: lines end in LF, CR or
CRLF (a CRLF may be split across two reads), a blank line ends a block, ``:`` lines are
comments, ``data:`` lines are joined with ``\\n``, one space after the colon is dropped, and a
UTF-8 BOM at the very start is skipped.

Invariants:
- The input is cut into blocks, each ending at a blank line, and *every* block becomes exactly
  one ``SseEvent`` -- also comment-only and empty ones (``event=None, data=""``) -- so joining
  the ``raw`` of all emitted events (``feed`` and ``flush``) reproduces the input byte for byte.
- How the input is split into reads never changes the events.
- Any bytes are accepted; undecodable UTF-8 becomes U+FFFD. Nothing raises.

The common case (LF-only input, whole events per read) is handled with ``bytes.find`` and
slicing, never a per-byte Python loop; pending bytes live in a ``bytearray`` so one huge event
arriving in many reads costs linear, not quadratic, time.
"""

from __future__ import annotations

import re

from tollgate.providers.base import SseEvent

_BOM = b"\xef\xbb\xbf"
_EOL = re.compile(rb"\r\n?|\n")
_CR = re.compile(rb"\r\n?")
_LF = 10
_CRB = 13


class SseDecoder:
    """Feed raw bytes as they arrive; get back the events completed so far. One per stream."""

    __slots__ = ("_buf", "_has_cr", "_scan", "_skip", "_started")

    def __init__(self) -> None:
        self._buf = bytearray()  # bytes of the current, unfinished block (from its first byte)
        self._scan = 0  # offset in _buf of the start of the line not yet known to be complete
        self._has_cr = False  # _buf holds a CR: the slow path must handle it
        self._skip = 0  # 3 while the pending first block starts with a BOM
        self._started = False  # the BOM question has been settled

    def feed(self, data: bytes) -> list[SseEvent]:
        if not data:
            return []
        buf: bytes | bytearray
        if self._buf:
            self._buf += data
            buf = self._buf
        else:
            buf = data
        if not self._started:
            if len(buf) < len(_BOM) and _BOM.startswith(buf):
                self._keep(buf, 0)  # could still become a BOM: wait for more
                return []
            self._started = True
            if buf.startswith(_BOM):
                self._skip = self._scan = len(_BOM)
        if self._has_cr or b"\r" in data:
            return self._feed_any(buf)
        return self._feed_lf(buf)

    def flush(self) -> list[SseEvent]:
        """End of stream: emit whatever is pending (a block with no closing blank line)."""
        buf = self._buf
        if not buf:
            return []
        body = bytes(buf[self._skip :])
        if self._has_cr:
            body = _CR.sub(b"\n", body)
        event = _event(bytes(buf), body)
        self._buf = bytearray()
        self._scan = self._skip = 0
        self._has_cr = False
        return [event]

    def _feed_lf(self, buf: bytes | bytearray) -> list[SseEvent]:
        """Fast path: no CR anywhere pending, so a block ends at the first ``\\n\\n``."""
        out: list[SseEvent] = []
        n = len(buf)
        pos = 0  # start of the current block
        scan = self._scan
        while pos < n:
            start = pos + self._skip
            if start < n and buf[start] == _LF:  # a bare blank line: an empty block
                end = start + 1
                out.append(_event(bytes(buf[pos:end]), b""))
            else:
                i = buf.find(b"\n\n", max(scan - 1, start))
                if i < 0:
                    break
                end = i + 2
                out.append(_event(bytes(buf[pos:end]), bytes(buf[start:i])))
            pos = scan = end
            self._skip = 0
        if pos < n:
            last = buf.rfind(b"\n", pos)
            scan = max(scan, last + 1 if last >= 0 else pos)
        self._keep(buf, pos, scan - pos)
        return out

    def _feed_any(self, buf: bytes | bytearray) -> list[SseEvent]:
        """Any mix of LF, CR and CRLF; a CR at the very end waits to see if an LF follows."""
        out: list[SseEvent] = []
        n = len(buf)
        pos = 0
        line_start = self._scan
        for match in _EOL.finditer(buf, line_start):
            s, e = match.span()
            if e == n and buf[s] == _CRB and e - s == 1:
                break  # ambiguous lone CR: resume from this line's start next time
            if s == line_start:  # blank line: the block ends here
                body = bytes(buf[pos + self._skip : s])
                out.append(_event(bytes(buf[pos:e]), _CR.sub(b"\n", body) if body else body))
                pos = e
                self._skip = 0
            line_start = e
        self._keep(buf, pos, line_start - pos)
        if pos:  # only consumed bytes can have taken the last CR away
            self._has_cr = b"\r" in self._buf
        else:
            self._has_cr = True
        return out

    def _keep(self, buf: bytes | bytearray, pos: int, scan: int = 0) -> None:
        """Retain ``buf[pos:]`` as the pending block; ``scan`` is relative to ``pos``."""
        if buf is self._buf:
            del self._buf[:pos]
        elif pos < len(buf):  # buf is a fresh read and nothing was pending
            self._buf = bytearray(buf[pos:])
        self._scan = max(scan, self._skip)


def _event(raw: bytes, body: bytes) -> SseEvent:
    """Parse one block's field lines (LF-separated ``body``) into an event carrying ``raw``."""
    if not body:
        return SseEvent(None, "", raw)
    if body[:5] == b"data:" and b"\n" not in body:  # the usual one-line block
        return SseEvent(None, body[6 if body[5:6] == b" " else 5 :].decode("utf-8", "replace"), raw)
    text = body.decode("utf-8", "replace")
    event: str | None = None
    data: list[str] = []
    for line in text.split("\n"):
        if not line or line[0] == ":":
            continue
        name, _, value = line.partition(":")
        if value[:1] == " ":
            value = value[1:]
        if name == "data":
            data.append(value)
        elif name == "event":
            event = value or None
        # "id" and "retry" are valid fields that a relay has no use for; anything else is ignored.
    return SseEvent(event, "\n".join(data), raw)
