"""The no-key simulator: Messages API responses in the exact wire shape, deterministic text.

Estimates, so that they can be documented to learners:
- input tokens: each prompt block (tool, system block, message block) counts ceil(chars / 4),
  a string content counting as one text block;
- output tokens: one per word of the reply (a word with the whitespace before it);
- prompt caching: a prefix is cached at each `cache_control` breakpoint (a top-level
  `cache_control` marks the last block) when it reaches the model's `min_cache_tokens` from
  lessons/models.yaml (1,024 where the file has no figure), for the breakpoint's TTL (5m or 1h);
  a later request with the same model and the same prefix content reads it, looking back up to
  20 block boundaries before each breakpoint, and the read refreshes the TTL.
Docs: https://platform.claude.com/docs/en/build-with-claude/streaming and
https://platform.claude.com/docs/en/build-with-claude/prompt-caching
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import secrets
import string
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from course.models_data import ModelData

CHARS_PER_TOKEN = 4
LOOKBACK = 20
TTL_SECONDS = {"5m": 300, "1h": 3600}
DEFAULT_MIN_CACHE_TOKENS = 1024
WORDS_PER_DELTA = 3
MARKER_RE = re.compile(r"(?<!\S)([#*=~<>|-]{3,})(?!\S)")
_ALPHABET = string.ascii_letters + string.digits

OPENINGS = (
    "Here is a short answer about {topic}.",
    "Good question about {topic}.",
    "Let me walk through {topic} step by step.",
)
POINTS = (
    "Start from the smallest request that works, then add one parameter at a time.",
    "Read the whole response object, not only the text: stop_reason and usage tell you a lot.",
    "Keep the stable part of the prompt first so that it can be cached and reused.",
    "Check every field the API returns before you rely on it in your code.",
    "Measure tokens with the counting endpoint instead of guessing from characters.",
    "Handle errors by type: retry what is temporary and fix what is not.",
    "Stream long replies so that people see the first words quickly.",
    "Send the whole conversation each time, because the API keeps no state between calls.",
    "Name the format you want in the system prompt and show one short example.",
)
CLOSINGS = (
    "In short, small and explicit requests are the easiest to reason about.",
    "In short, let the response fields guide your next step.",
    "In short, test each change on its own before combining them.",
)


def estimate_tokens(text: str) -> int:
    return max(1, math.ceil(len(text) / CHARS_PER_TOKEN))


def new_id(prefix: str) -> str:
    return prefix + "".join(secrets.choice(_ALPHABET) for _ in range(24))


class CacheStore(Protocol):
    """Where simulated cache entries live: `live` looks up, `put` writes or refreshes."""

    def live(self, key: str) -> bool: ...

    def put(self, key: str, ttl_seconds: int) -> None: ...


@dataclass
class MemoryStore:
    """A private, process-local store: check_lessons and tests run solutions in one of these."""

    clock: Callable[[], float] = time.monotonic
    entries: dict[str, float] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def live(self, key: str) -> bool:
        with self.lock:
            return self.entries.get(key, 0.0) > self.clock()

    def put(self, key: str, ttl_seconds: int) -> None:
        with self.lock:
            self.entries[key] = self.clock() + ttl_seconds


class DjangoCacheStore:
    """The site's store: Django's cache, shared by every process when it is Redis.

    Entries are scoped (per learner): a real cache belongs to one organisation, so a classmate's
    run must not turn a learner's first run into a read.
    """

    def __init__(self, scope: str) -> None:
        self.prefix = f"sandbox-prefix:{scope}:"

    def live(self, key: str) -> bool:
        from django.core.cache import cache

        return cache.get(self.prefix + key) is not None

    def put(self, key: str, ttl_seconds: int) -> None:
        from django.core.cache import cache

        cache.set(self.prefix + key, 1, timeout=ttl_seconds)


def _blocks(content: Any) -> list[Any]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    return list(content) if isinstance(content, list) else []


def _block_tokens(block: Any) -> int:
    if isinstance(block, dict) and isinstance(block.get("text"), str):
        return estimate_tokens(block["text"])
    return estimate_tokens(json.dumps(block, sort_keys=True))


def prompt_blocks(body: dict[str, Any]) -> list[tuple[str, Any]]:
    """(role, block) in cache-prefix order: tools, then system, then messages."""
    items = [("tools", tool) for tool in body.get("tools") or []]
    items += [("system", block) for block in _blocks(body.get("system"))]
    for message in body["messages"]:
        items += [(message["role"], block) for block in _blocks(message["content"])]
    return items


def usage(body: dict[str, Any], models: ModelData, store: CacheStore) -> dict[str, Any]:
    """Input usage with the prompt cache simulated by prefix (see the module docstring)."""
    info = models.get(body["model"])
    minimum = (info.min_cache_tokens if info else None) or DEFAULT_MIN_CACHE_TOKENS
    digest = hashlib.sha256(body["model"].encode()).digest()
    items = prompt_blocks(body)
    total, bounds = 0, []  # (key, cumulative tokens, ttl if this block is a breakpoint)
    for index, (role, block) in enumerate(items):
        total += _block_tokens(block)
        marker = block.get("cache_control") if isinstance(block, dict) else None
        if index == len(items) - 1 and marker is None:
            marker = body.get("cache_control")  # automatic caching: the last block
        # A hit depends on the prefix's content, not on where the markers sit.
        bare = {k: v for k, v in block.items() if k != "cache_control"}
        digest = hashlib.sha256(digest + json.dumps([role, bare], sort_keys=True).encode()).digest()
        ttl = marker.get("ttl", "5m") if isinstance(marker, dict) else None
        bounds.append((digest.hex(), total, ttl))
    read, hit_ttl = 0, None
    for end, (_, _, ttl) in enumerate(bounds):
        if ttl is None:
            continue
        for key, size, _ in bounds[max(0, end - LOOKBACK + 1) : end + 1]:
            if size > read and store.live(key):
                read, hit_ttl, hit_key = size, ttl, key
    if read:
        store.put(hit_key, TTL_SECONDS[hit_ttl])  # a hit refreshes the entry's lifetime
    created, previous = {"5m": 0, "1h": 0}, read
    for key, size, ttl in bounds:
        if ttl and size >= minimum and size > previous and not store.live(key):
            store.put(key, TTL_SECONDS[ttl])
            created[ttl] += size - previous
            previous = size
    creation = created["5m"] + created["1h"]
    return {
        "input_tokens": total - read - creation,
        "cache_creation_input_tokens": creation,
        "cache_read_input_tokens": read,
        "cache_creation": {
            "ephemeral_5m_input_tokens": created["5m"],
            "ephemeral_1h_input_tokens": created["1h"],
        },
        "output_tokens": 0,
        "service_tier": "standard",
    }


def _texts(content: Any) -> str:
    return " ".join(
        b["text"]
        for b in _blocks(content)
        if isinstance(b, dict) and isinstance(b.get("text"), str)
    )


def reply_text(body: dict[str, Any]) -> str:
    """A deterministic, helpful-sounding reply built from the last user message."""
    question = next(
        (_texts(m["content"]) for m in reversed(body["messages"]) if m["role"] == "user"), ""
    )
    words = re.findall(r"[A-Za-z0-9'-]+", question)
    topic = " ".join(words[:8]).lower() or "your request"
    seed = int.from_bytes(hashlib.sha256(question.encode()).digest()[:8], "big")
    pick = [POINTS[(seed >> (4 * i)) % len(POINTS)] for i in range(6)]
    points = list(dict.fromkeys(pick))[:3]
    system = _texts(body.get("system"))
    if "json" in f"{system} {question}".lower():
        # Nested on purpose: a stop sequence of "}" cuts at the inner object, as the API does.
        return json.dumps(
            {
                "topic": topic,
                "answer": {"summary": points[0], "confidence": "high"},
                "next_steps": points[1:],
            }
        )
    opening = OPENINGS[seed % len(OPENINGS)].format(topic=topic)
    listed = "\n".join(f"{n}. {point}" for n, point in enumerate(points, start=1))
    paragraphs = [opening, listed, *markers(body, question), CLOSINGS[seed % len(CLOSINGS)]]
    return "\n\n".join(paragraphs)


def markers(body: dict[str, Any], question: str) -> list[str]:
    """Separators the prompt asks for (a symbol run such as ###, or a stop sequence it quotes),
    written on their own line after the main answer, as a model following the prompt would."""
    found = MARKER_RE.findall(question)
    found += [s for s in body.get("stop_sequences") or [] if s.strip() and s in question]
    return list(dict.fromkeys(found))


def words(text: str) -> list[str]:
    """The reply's output tokens: each word with the whitespace before it."""
    return re.findall(r"\s*\S+", text)


@dataclass(frozen=True)
class Generated:
    text: str
    output_tokens: int
    stop_reason: str
    stop_sequence: str | None


def generate(body: dict[str, Any]) -> Generated:
    """The reply cut by `stop_sequences` (matched text left out) or by `max_tokens`."""
    pieces = words(reply_text(body))
    limit = body["max_tokens"]
    shown = "".join(pieces[:limit])
    found = [(shown.find(s), s) for s in body.get("stop_sequences") or [] if s and s in shown]
    if found:
        index, sequence = min(found, key=lambda pair: pair[0])
        spent = len(words(shown[: index + len(sequence)]))
        return Generated(shown[:index], max(spent, 1), "stop_sequence", sequence)
    if len(pieces) > limit:
        return Generated(shown, limit, "max_tokens", None)
    return Generated(shown, len(pieces), "end_turn", None)


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
    reply = generate(body)
    message = {
        "id": new_id("msg_"),
        "type": "message",
        "role": "assistant",
        "model": body["model"],
        "content": [{"type": "text", "text": reply.text}] if reply.text else [],
        "stop_reason": reply.stop_reason,
        "stop_sequence": reply.stop_sequence,
        "stop_details": None,
        "usage": {**counted, "output_tokens": reply.output_tokens},
    }
    headers = {"request-id": request_id}
    if body.get("stream") is not True:
        return Outcome(200, message, [], headers)
    return Outcome(200, message, stream_events(message, counted), headers)


def stream_events(message: dict[str, Any], counted: dict[str, Any]) -> list[dict[str, Any]]:
    """The documented SSE sequence for `message`: start, block, ping, deltas, stop, delta, stop."""
    start = {**message, "content": [], "stop_reason": None, "stop_sequence": None}
    start["usage"] = {**counted, "output_tokens": 1}
    events = [{"type": "message_start", "message": start}]
    for index, block in enumerate(message["content"]):
        events.append(
            {
                "type": "content_block_start",
                "index": index,
                "content_block": {"type": "text", "text": ""},
            }
        )
        if index == 0:
            events.append({"type": "ping"})
        pieces = words(block["text"])
        for at in range(0, len(pieces), WORDS_PER_DELTA):
            text = "".join(pieces[at : at + WORDS_PER_DELTA])
            delta = {"type": "text_delta", "text": text}
            events.append({"type": "content_block_delta", "index": index, "delta": delta})
        events.append({"type": "content_block_stop", "index": index})
    if not message["content"]:
        events.append({"type": "ping"})
    end = {"stop_reason": message["stop_reason"], "stop_sequence": message["stop_sequence"]}
    events.append(
        {
            "type": "message_delta",
            "delta": end,
            "usage": {"output_tokens": message["usage"]["output_tokens"]},  # cumulative
        }
    )
    events.append({"type": "message_stop"})
    return [{"event": data["type"], "data": data} for data in events]


def sse(events: list[dict[str, Any]]) -> bytes:
    """The events as the bytes of a text/event-stream body."""
    return b"".join(
        f"event: {e['event']}\ndata: {json.dumps(e['data'])}\n\n".encode() for e in events
    )
