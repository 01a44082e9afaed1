"""Which tools a simulated turn calls, and with what input.

The rule, so that a learner can predict it:
- `tool_choice` `none` (or no tools) never calls a tool;
- `tool` calls the named tool, `any` calls the tools the last user turn asks for (or the first
  tool when it names none), whatever the turn holds, as forced tool use does;
- `auto` (the default) calls the tools the last user turn asks for, unless that turn carries
  tool results, which are answered in text. A turn asks for a tool when it contains a word of
  the tool's name (split at `_`, `-` and capitals; a plural "s" ignored), not counting generic
  verbs such as get, set or list: "What's the weather in Paris?" asks for `get_weather`;
- several tools may each be called once, unless `disable_parallel_tool_use` is true (one call).
Each input is built from the tool's `input_schema` and quotes the conversation where it can.
"""

from __future__ import annotations

import re
from typing import Any

from course.sandbox.simulator.cache import blocks
from course.sandbox.simulator.replies import last_user_text
from course.sandbox.simulator.schema import Context, instance
from course.sandbox.simulator.tokens import new_id

GENERIC = {
    "get", "set", "list", "fetch", "find", "lookup", "look", "up", "do", "run", "make", "call",
    "use", "tool", "the", "a", "an", "of", "for", "to", "by", "and", "or", "with", "from", "data",
    "info", "information", "current", "api", "v1", "v2", "new", "create", "update", "my",
}  # fmt: skip


def _stem(word: str) -> str:
    word = word.lower()
    return word[:-1] if len(word) > 3 and word.endswith("s") and not word.endswith("ss") else word


def name_words(name: str) -> set[str]:
    parts = re.split(r"[_\-\s]+|(?<=[a-z0-9])(?=[A-Z])", name)
    return {_stem(p) for p in parts if p and p.lower() not in GENERIC}


def asks_for(tool: dict[str, Any], text: str) -> bool:
    said = {_stem(w) for w in re.findall(r"[A-Za-z0-9]+", text)}
    return bool(name_words(tool.get("name", "")) & said)


def _answers_results(body: dict[str, Any]) -> bool:
    last = body["messages"][-1] if body["messages"] else {"role": "user", "content": []}
    return last["role"] == "user" and any(
        isinstance(b, dict) and b.get("type") == "tool_result" for b in blocks(last["content"])
    )


def chosen_tools(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The client tools this turn calls, in the order they are defined."""
    tools = [t for t in body.get("tools") or [] if isinstance(t, dict) and "input_schema" in t]
    choice = body.get("tool_choice") or {"type": "auto"}
    kind = choice.get("type", "auto")
    if not tools or kind == "none":
        return []
    text = last_user_text(body)
    if kind == "tool":
        picked = [t for t in tools if t.get("name") == choice.get("name")]
    else:
        if kind == "auto" and _answers_results(body):
            return []
        picked = [t for t in tools if asks_for(t, text)]
        if kind == "any" and not picked:
            picked = tools[:1]
    if choice.get("disable_parallel_tool_use"):
        picked = picked[:1]
    return picked


def tool_use_blocks(body: dict[str, Any]) -> list[dict[str, Any]]:
    context = Context(last_user_text(body))
    return [
        {
            "type": "tool_use",
            "id": new_id("toolu_"),
            "name": tool["name"],
            "input": instance(tool.get("input_schema") or {}, context),
        }
        for tool in chosen_tools(body)
    ]


def forced(body: dict[str, Any]) -> bool:
    return (body.get("tool_choice") or {}).get("type") in ("any", "tool")
