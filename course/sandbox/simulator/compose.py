"""The content of a simulated turn: thinking, text, tool calls, cut by stop sequences and
`max_tokens` as the API cuts them."""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from course.sandbox.simulator import replies, tools
from course.sandbox.simulator.schema import Context, instance
from course.sandbox.simulator.tokens import words


@dataclass(frozen=True)
class Generated:
    content: list[dict[str, Any]]
    output_tokens: int
    stop_reason: str
    stop_sequence: str | None

    @property
    def text(self) -> str:
        return "".join(b["text"] for b in self.content if b["type"] == "text")


def thinks(body: dict[str, Any]) -> bool:
    """Whether this turn opens with a thinking block: `enabled` and `adaptive` always do here;
    `between_tools` does when the turn answers tool results. Without a `thinking` setting there
    is none, even on models whose thinking is always on (Fable 5.1, Opus 5.5): what those
    return by default is not in the sources (unsettled)."""
    kind = (body.get("thinking") or {}).get("type")
    if kind == "between_tools":
        return replies.tool_result_text(body) is not None
    return kind in ("enabled", "adaptive")


def thinking_block(body: dict[str, Any]) -> dict[str, Any]:
    text = replies.thinking_text(body)
    digest = hashlib.sha256(f"{body['model']}\n{text}".encode()).digest()
    signature = base64.b64encode(b"simulated-signature:" + digest).decode()
    shown = "" if (body.get("thinking") or {}).get("display") == "omitted" else text
    return {"type": "thinking", "thinking": shown, "signature": signature, "_spent": text}


def planned(body: dict[str, Any]) -> list[dict[str, Any]]:
    """Every block the turn would write with no limit, thinking first."""
    content = [thinking_block(body)] if thinks(body) else []
    calls = tools.tool_use_blocks(body)
    if calls:
        if not tools.forced(body):  # forced tool use writes no preamble
            names = ", ".join(c["name"] for c in calls)
            content.append({"type": "text", "text": f"{replies.LABEL} I will call {names}."})
        return content + calls
    answer = replies.tool_result_text(body)
    output_format = (body.get("output_config") or {}).get("format")
    if isinstance(output_format, dict) and output_format.get("type") == "json_schema":
        value = instance(output_format.get("schema") or {}, Context(replies.last_user_text(body)))
        answer = json.dumps(value)
    return [*content, {"type": "text", "text": continued(body, answer or replies.reply_text(body))}]


def continued(body: dict[str, Any], text: str) -> str:
    """After a prefilled assistant turn (older models), the reply carries on from it."""
    last = body["messages"][-1] if body["messages"] else {}
    if last.get("role") != "assistant":
        return text
    prefill = replies.texts(last.get("content")).rstrip()
    return text[len(prefill) :] if prefill and text.startswith(prefill) else text


def generate(body: dict[str, Any]) -> Generated:
    """The planned blocks cut at the first stop sequence in a text block (matched text left out)
    or where the output tokens reach `max_tokens`; tokens counted as in `tokens.words`."""
    budget, spent, content = body["max_tokens"], 0, []
    sequences = [s for s in body.get("stop_sequences") or [] if s]
    for block in planned(body):
        if block["type"] == "thinking":
            pieces = words(block.pop("_spent"))
            if len(pieces) > budget - spent:  # thinking used up the whole cap
                if budget - spent > 0:
                    cut = "".join(pieces[: budget - spent]) if block["thinking"] else ""
                    content.append({**block, "thinking": cut})
                return Generated(content, budget, "max_tokens", None)
            spent += len(pieces)
            content.append(block)
        elif block["type"] == "text":
            pieces = words(block["text"])
            shown = "".join(pieces[: budget - spent])
            found = [(shown.find(s), s) for s in sequences if s in shown]
            if found:
                index, sequence = min(found, key=lambda pair: pair[0])
                spent += max(len(words(shown[: index + len(sequence)])), 1)
                if shown[:index]:
                    content.append({"type": "text", "text": shown[:index]})
                return Generated(content, spent, "stop_sequence", sequence)
            if shown:
                content.append({"type": "text", "text": shown})
            if len(pieces) > budget - spent:
                return Generated(content, budget, "max_tokens", None)
            spent += len(pieces)
        else:  # tool_use: a call that does not fit in the cap is not made
            cost = len(words(json.dumps(block["input"]))) + 1
            if cost > budget - spent:
                return Generated(content, budget, "max_tokens", None)
            spent += cost
            content.append(block)
    stop = "tool_use" if any(b["type"] == "tool_use" for b in content) else "end_turn"
    return Generated(content, spent, stop, None)
