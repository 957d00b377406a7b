"""Token estimates for the calls whose provider reported no usage.

A record built from an estimate is flagged ``estimated``. The heuristic is deliberately
simple and documented: about four characters of text per token, where the text is the JSON
request body for input and the streamed event payloads (or the buffered body) for output, with
an allowance for the JSON envelope around the generated text.
"""

from __future__ import annotations

from tollgate.pricing.usage import NormalizedUsage

CHARS_PER_TOKEN = 4
# Typical share of a streamed event's JSON that is generated text rather than envelope.
STREAM_TEXT_SHARE = 0.25


def estimate_usage(request_bytes: int, answer_chars: int, *, generates: bool = True) -> NormalizedUsage:
    """``answer_chars``: the streamed event payloads, or the whole body of a buffered answer.

    ``generates=False`` (embeddings) estimates input only: the answer is vectors, not tokens.
    """
    input_tokens = max(1, request_bytes // CHARS_PER_TOKEN) if request_bytes else 0
    output_tokens = int(answer_chars * STREAM_TEXT_SHARE) // CHARS_PER_TOKEN if generates else 0
    return NormalizedUsage(input_tokens=input_tokens, output_tokens=output_tokens)
