"""The no-key simulator: Messages API responses in the exact wire shape, deterministic content.

Estimates, so that they can be documented to learners:
- input tokens: each prompt block (tool, system block, message block) counts ceil(chars / 3)
  (`model_catalogue.estimate_tokens`, the site's one estimate), a string content counting as one
  text block;
- output tokens: one per word of generated text or thinking (a word with the whitespace before
  it), and for a tool call one per word of its JSON input plus one;
- prompt caching: a prefix is cached at each `cache_control` breakpoint (a top-level
  `cache_control` marks the last block) when it reaches the model's `min_cache_tokens` from
  lessons/models.yaml (1,024 where the file has no figure), for the breakpoint's TTL (5m or 1h);
  a later request with the same model and the same prefix content reads it, looking back up to
  20 block boundaries before each breakpoint, and the read refreshes the TTL. The prefix runs
  tools -> system -> messages, so a change invalidates its level and those after it;
  `tool_choice`, thinking settings and the number of images are part of the messages level only;
- cache diagnostics: every response's prompt fingerprint is kept, so `diagnostics:
  {"previous_message_id": ...}` names the first level that changed (see `cache.diagnose`).
What the content says follows fixed, readable rules: `replies` (text and its format), `tools`
(which tools are called), `schema` (structured outputs and tool inputs), `compose` (thinking,
stop sequences and `max_tokens`).
Docs: https://platform.claude.com/docs/en/build-with-claude/streaming and
https://platform.claude.com/docs/en/build-with-claude/prompt-caching
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from course.model_catalogue import ModelData
from course.sandbox.simulator.cache import (
    CacheStore,
    DjangoCacheStore,
    MemoryStore,
    diagnose,
    fingerprint,
    prompt_blocks,
    usage,
)
from course.sandbox.simulator.compose import Generated, generate
from course.sandbox.simulator.replies import reply_text
from course.sandbox.simulator.stream import sse, stream_events
from course.sandbox.simulator.tokens import new_id, words

__all__ = [
    "CacheStore",
    "DjangoCacheStore",
    "Generated",
    "MemoryStore",
    "Outcome",
    "generate",
    "new_id",
    "prompt_blocks",
    "reply_text",
    "simulate",
    "sse",
    "stream_events",
    "usage",
    "words",
]


@dataclass
class Outcome:
    """What the simulator answered: the final message, and the SSE events when streamed."""

    status: int
    response: dict[str, Any]
    events: list[dict[str, Any]]
    headers: dict[str, str]


def simulate(
    body: dict[str, Any], models: ModelData, store: CacheStore, request_id: str
) -> Outcome:
    """Answer a request that passed validator.validate, as the API would."""
    counted = usage(body, models, store)
    now = fingerprint(body, models, counted)
    reply = generate(body)
    message = {
        "id": new_id("msg_"),
        "type": "message",
        "role": "assistant",
        "model": body["model"],
        "content": reply.content,
        "stop_reason": reply.stop_reason,
        "stop_sequence": reply.stop_sequence,
        "stop_details": None,
        "usage": {**counted, "output_tokens": reply.output_tokens},
        "diagnostics": diagnose(body, store, now, counted["cache_read_input_tokens"]),
    }
    store.remember(message["id"], now)
    headers = {"request-id": request_id}
    if body.get("stream") is not True:
        return Outcome(200, message, [], headers)
    return Outcome(200, message, stream_events(message, counted), headers)
