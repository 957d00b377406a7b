"""Tool calls in simulated answers: a request that *forces* a tool gets a call to it, not text.

Forcing, in each format:

- OpenAI chat: ``tool_choice`` ``"required"`` or ``{"type": "function", "function": {"name"}}``;
- Anthropic: ``tool_choice`` ``{"type": "any"}`` or ``{"type": "tool", "name"}``;
- Gemini: ``toolConfig.functionCallingConfig.mode`` ``"ANY"`` (``allowedFunctionNames[0]`` names it);
- Cohere v2: ``tool_choice`` ``"REQUIRED"`` (Cohere cannot name one tool);
- Bedrock Converse: ``toolConfig.toolChoice`` ``{"any": {}}`` or ``{"tool": {"name"}}``.

The tool called is the named one, else the first one offered. Its arguments are
``{"query": "tok1 … tokN"}`` with the scenario's visible output words, so the output count stays
what the scenario says; a stream sends their JSON text in ``chunks`` pieces that concatenate back.
"""

from __future__ import annotations

from typing import Any

from tollgate.core import jsonx
from tollgate.testing._tokens import answer_pieces, answer_text


def _first_name(tools: object, *path: str) -> str | None:
    """The name of the first offered tool, found under ``path`` in each tool object."""
    for tool in tools if isinstance(tools, list) else ():
        node: Any = tool
        for key in path:
            node = node.get(key) if isinstance(node, dict) else None
        if isinstance(node, str) and node:
            return node
    return None


def forced_openai(body: dict[str, Any]) -> str | None:
    choice = body.get("tool_choice")
    if choice == "required":
        return _first_name(body.get("tools"), "function", "name")
    function = choice.get("function") if isinstance(choice, dict) else None
    name = function.get("name") if isinstance(function, dict) else None
    return name if isinstance(name, str) and name else None


def forced_anthropic(body: dict[str, Any]) -> str | None:
    choice = body.get("tool_choice")
    if not isinstance(choice, dict):
        return None
    if choice.get("type") == "tool" and isinstance(choice.get("name"), str):
        return str(choice["name"])
    return _first_name(body.get("tools"), "name") if choice.get("type") == "any" else None


def forced_gemini(body: dict[str, Any]) -> str | None:
    config = body.get("toolConfig", body.get("tool_config"))
    calling = config.get("functionCallingConfig") if isinstance(config, dict) else None
    if not isinstance(calling, dict) or calling.get("mode") != "ANY":
        return None
    allowed = calling.get("allowedFunctionNames")
    if isinstance(allowed, list) and allowed and isinstance(allowed[0], str):
        return allowed[0]
    tools = body.get("tools")
    declarations: list[object] = []
    for tool in tools if isinstance(tools, list) else ():
        found = tool.get("functionDeclarations") if isinstance(tool, dict) else None
        declarations += found if isinstance(found, list) else []
    return _first_name(declarations, "name")


def forced_cohere(body: dict[str, Any]) -> str | None:
    if body.get("tool_choice") != "REQUIRED":
        return None
    return _first_name(body.get("tools"), "function", "name")


def forced_bedrock(body: dict[str, Any]) -> str | None:
    config = body.get("toolConfig")
    choice = config.get("toolChoice") if isinstance(config, dict) else None
    if not isinstance(config, dict) or not isinstance(choice, dict):
        return None
    tool = choice.get("tool")
    name = tool.get("name") if isinstance(tool, dict) else None
    if isinstance(name, str) and name:
        return name
    return _first_name(config.get("tools"), "toolSpec", "name") if "any" in choice else None


def arguments(words: int) -> dict[str, str]:
    return {"query": answer_text(words)}


def argument_pieces(words: int, chunks: int) -> list[str]:
    """The arguments' JSON text in as many pieces as the text answer would have."""
    pieces = [jsonx.dumps(piece).decode()[1:-1] for piece in answer_pieces(words, chunks)]
    pieces[0] = '{"query": "' + pieces[0]
    pieces[-1] += '"}'
    return pieces
