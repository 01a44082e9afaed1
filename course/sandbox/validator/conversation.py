"""Rules about the conversation the types cannot say: content, roles, prefill, tool pairing.

Sources: ../shared/course/api-facts.md §2.4 and §9; the API's own error texts for tool pairing
as quoted in https://github.com/anthropics/claude-code/issues/5989 and
https://github.com/anthropics/claude-code/issues/13460.
"""

from __future__ import annotations

from collections.abc import Callable

from course.sandbox.validator.errors import ApiError, at, invalid
from course.sandbox.validator.request import API_VERSION, Request, blocks

MAX_MESSAGES = 100_000
PREFILL_MESSAGE = (
    "This model does not support assistant message prefill. "
    "The conversation must end with a user message."
)


def message_count(req: Request) -> ApiError | None:
    if not req.messages:
        return at("messages", "at least one message is required")
    if len(req.messages) > MAX_MESSAGES:
        return at("messages", f"at most {MAX_MESSAGES:,} messages are allowed")
    return None


def non_empty(req: Request) -> ApiError | None:
    last = len(req.messages) - 1
    for index, message in enumerate(req.messages):
        final_assistant = index == last and message["role"] == "assistant"
        if not message["content"] and not final_assistant:
            return at(
                f"messages.{index}",
                "all messages must have non-empty content except for the optional final "
                "assistant message",
            )
        for block in blocks(message["content"]):
            if (
                block["type"] == "text"
                and not block["text"]
                and isinstance(message["content"], list)
            ):
                return at(f"messages.{index}", "text content blocks must be non-empty")
    system = req.body.get("system")
    if isinstance(system, list) and any(not block["text"] for block in system):
        return at("system", "text content blocks must be non-empty")
    return None


def system_role(req: Request) -> ApiError | None:
    """Mid-conversation system messages: Opus 4.8 and later, right after a user turn (§2.4)."""
    generation = req.generation
    supported = generation is not None and generation >= (4, 8)
    for index, message in enumerate(req.messages):
        if message["role"] != "system":
            continue
        if not supported:
            return at(f"messages.{index}.role", "role 'system' is not supported on this model")
        if index == 0 or req.messages[index - 1]["role"] != "user":
            return at(
                f"messages.{index}",
                "a system message must come immediately after a user message; put "
                "instructions for the whole conversation in the top-level `system`",
            )
    return None


def version_2026_10_21(req: Request) -> ApiError | None:
    """What API version 2026-10-21 refuses in messages (api-facts §1)."""
    if req.version != API_VERSION:
        return None
    for m, message in enumerate(req.messages):
        for b, block in enumerate(blocks(message["content"])):
            where = f"messages.{m}.content.{b}"
            if block["type"] == "document" and message["role"] == "assistant":
                return at(where, "document blocks are not allowed in assistant messages")
            if block["type"] == "text" and message["role"] == "user" and block.get("citations"):
                return at(f"{where}.citations", "citations are not allowed in user messages")
    return None


def refuses_prefill(req: Request) -> bool:
    """Claude 4.6 and later, and Mythos Preview, refuse a prefill (api-facts §2.4)."""
    generation = req.generation
    return req.model_id == "claude-mythos-preview" or (
        generation is not None and generation >= (4, 6)
    )


def prefill(req: Request) -> ApiError | None:
    last = req.messages[-1]
    if last["role"] != "assistant":
        return None
    if not refuses_prefill(req):
        # The API's text, quoted in https://github.com/tailcallhq/forgecode/issues/1872
        texts = [block["text"] for block in blocks(last["content"]) if block["type"] == "text"]
        if texts and texts[-1] != texts[-1].rstrip():
            return at("messages", "final assistant content cannot end with trailing whitespace")
        return None
    # Sending a paused server-tool turn back as it is continues it (pause_turn): not a prefill.
    if any(block["type"] == "server_tool_use" for block in blocks(last["content"])):
        return None
    return invalid(PREFILL_MESSAGE)


def _turns(req: Request) -> list[tuple[str, list[int]]]:
    """Consecutive same-role messages merged into one turn, as the API merges them (§2.4).

    System messages are left out: they sit between turns without being one.
    """
    turns: list[tuple[str, list[int]]] = []
    for index, message in enumerate(req.messages):
        role = message["role"]
        if role == "system":
            continue
        if turns and turns[-1][0] == role:
            turns[-1][1].append(index)
        else:
            turns.append((role, [index]))
    return turns


def tool_pairing(req: Request) -> ApiError | None:
    """Each tool_result answers a tool_use of the turn before; each tool_use is answered next.

    Results that answer nothing are reported before calls left unanswered: a result naming the
    wrong id is the mistake to point at, not the call it failed to answer.
    """
    turns = _turns(req)
    for position, (role, indexes) in enumerate(turns):
        if role != "user":
            continue
        asked = _ids(req, turns[position - 1][1], "tool_use") if position else set()
        for index in indexes:
            for b, block in enumerate(blocks(req.messages[index]["content"])):
                if block["type"] == "tool_result" and block["tool_use_id"] not in asked:
                    return at(
                        f"messages.{index}.content.{b}",
                        "unexpected `tool_use_id` found in `tool_result` blocks: "
                        f"{block['tool_use_id']}. Each `tool_result` block must have a "
                        "corresponding `tool_use` block in the previous message.",
                    )
    for position, (role, indexes) in enumerate(turns):
        if role != "assistant":
            continue
        after = turns[position + 1] if position + 1 < len(turns) else None
        answered = _ids(req, after[1], "tool_result") if after else set()
        for index in indexes:
            asked = [
                block["id"]
                for block in blocks(req.messages[index]["content"])
                if block["type"] == "tool_use"
            ]
            missing = [tool_id for tool_id in asked if tool_id not in answered]
            if missing:
                return at(
                    f"messages.{index}",
                    "`tool_use` ids were found without `tool_result` blocks immediately after: "
                    f"{', '.join(missing)}. Each `tool_use` block must have a corresponding "
                    "`tool_result` block in the next message.",
                )
    return None


def _ids(req: Request, indexes: list[int], kind: str) -> set[str]:
    key = "id" if kind == "tool_use" else "tool_use_id"
    return {
        block[key]
        for index in indexes
        for block in blocks(req.messages[index]["content"])
        if block["type"] == kind
    }


RULES: tuple[Callable[[Request], ApiError | None], ...] = (
    message_count,
    non_empty,
    system_role,
    version_2026_10_21,
    prefill,
    tool_pairing,
)
