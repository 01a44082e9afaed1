"""The conversation sent upstream: trimmed to a token budget, with a cache breakpoint at the end."""

from __future__ import annotations

from course.model_catalogue import estimate_tokens
from tutor.models import Message


def build_messages(history: list[Message], budget: int) -> tuple[list[dict], int | None]:
    """Turn saved messages into API messages, dropping the oldest turns beyond `budget` tokens.

    The newest message is the learner's question; it carries the second cache breakpoint so the
    next turn can read this whole conversation from the cache. Returns the messages and the id
    of the oldest message kept.
    """
    kept: list[Message] = []
    used = 0
    for message in reversed(history):
        cost = estimate_tokens(message.text)
        if kept and used + cost > budget:
            break
        kept.append(message)
        used += cost
    kept.reverse()
    while len(kept) > 1 and kept[0].role != Message.Role.USER:
        kept.pop(0)  # a conversation sent upstream starts with the learner
    messages = [{"role": m.role, "content": m.text} for m in kept]
    if messages:
        messages[-1] = {
            "role": messages[-1]["role"],
            "content": [
                {"type": "text", "text": kept[-1].text, "cache_control": {"type": "ephemeral"}}
            ],
        }
    return messages, (kept[0].pk if kept else None)
