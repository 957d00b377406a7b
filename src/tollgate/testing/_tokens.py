"""Deterministic token arithmetic: how many tokens a request "costs" and what the answer says.

- **Input.** Every text string reachable in a message (a string ``content``; the ``text`` of parts and
  blocks; ``content``/``parts`` nested inside them) counts one token per whitespace-separated word, and
  each message adds ``MESSAGE_OVERHEAD`` tokens. A system prompt (``system``, ``instructions``,
  ``systemInstruction``) counts as one more message. A request counts at least one token.
- **Output.** The visible answer is ``"tok1 tok2 … tokN"``: one word per output token.
- **Embeddings.** Each input string counts its words (at least one); each token-id list counts its length.
- **Cost** (OpenRouter, Perplexity, xAI report a charge): a fictitious $1 per million input tokens and
  $2 per million output tokens, so tests can predict it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from tollgate.testing._scenario import Scenario

MESSAGE_OVERHEAD = 4
INPUT_USD_PER_TOKEN = 1e-6
OUTPUT_USD_PER_TOKEN = 2e-6

_TEXT_KEYS = ("text", "content", "parts")


def count_words(value: object) -> int:
    """Words in every text string under ``value`` (strings, lists, and the text keys of objects)."""
    total = 0
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            total += len(item.split())
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, dict):
            stack.extend(item[key] for key in _TEXT_KEYS if key in item)
    return total


def count_prompt(messages: Iterable[object], system: object = None) -> int:
    """The deterministic input count of a list of messages plus an optional system prompt."""
    total = 0
    for message in messages:
        total += count_words(message) + MESSAGE_OVERHEAD
    if system:
        total += count_words(system) + MESSAGE_OVERHEAD
    return max(total, 1)


@dataclass(frozen=True, slots=True)
class Tally:
    """A call's token numbers in normalised form; provider modules translate them to native usage."""

    uncached: int
    cache_read: int
    cache_write: int
    cache_write_1h: int
    visible: int  # words of visible text
    reasoning: int
    truncated: bool  # the request's output cap cut the answer short

    @property
    def input_total(self) -> int:
        """Input including cache reads and writes (OpenAI's ``prompt_tokens``)."""
        return self.uncached + self.cache_read + self.cache_write

    @property
    def output_total(self) -> int:
        """Output including reasoning (OpenAI's ``completion_tokens``, Anthropic's ``output_tokens``)."""
        return self.visible + self.reasoning

    @property
    def cache_write_5m(self) -> int:
        return self.cache_write - self.cache_write_1h

    def cost_usd(self) -> float:
        """The fictitious charge a provider that reports cost would report."""
        return round(self.input_total * INPUT_USD_PER_TOKEN + self.output_total * OUTPUT_USD_PER_TOKEN, 9)


def tally(scenario: Scenario, prompt_tokens: int, max_output: object = None) -> Tally:
    """Combine the request's count, the scenario and the request's output cap (``max_tokens`` and kin).

    The cap bounds reasoning plus visible output, as it does for reasoning models: what the reasoning
    leaves is the most visible text there can be.
    """
    visible = scenario.output_tokens
    truncated = False
    if isinstance(max_output, int) and not isinstance(max_output, bool) and max_output >= 0:
        room = max(max_output - scenario.reasoning_tokens, 0)
        if visible > room:
            visible, truncated = room, True
    uncached = prompt_tokens if scenario.input_tokens is None else scenario.input_tokens
    return Tally(
        uncached=uncached,
        cache_read=scenario.cache_read_tokens,
        cache_write=scenario.cache_write_tokens,
        cache_write_1h=scenario.cache_write_1h_tokens,
        visible=visible,
        reasoning=scenario.reasoning_tokens,
        truncated=truncated,
    )


def answer_text(words: int) -> str:
    return " ".join(f"tok{i}" for i in range(1, words + 1))


def answer_pieces(words: int, chunks: int) -> list[str]:
    """``answer_text`` split into ``min(chunks, words)`` pieces (at least one) that concatenate back to it."""
    count = max(1, min(chunks, words))
    pieces: list[str] = []
    for index in range(count):
        start, end = index * words // count, (index + 1) * words // count
        text = " ".join(f"tok{i}" for i in range(start + 1, end + 1))
        pieces.append(text if index == 0 else " " + text)
    return pieces


def embedding_input_tokens(value: object) -> list[int]:
    """Per-input token counts of an embeddings ``input`` (a string, strings, token ids, or lists of ids)."""
    if isinstance(value, str):
        return [max(len(value.split()), 1)]
    if isinstance(value, list):
        if value and all(isinstance(item, int) for item in value):
            return [len(value)]
        return [embedding_input_tokens(item)[0] if isinstance(item, str | list) else 1 for item in value]
    return [1]
