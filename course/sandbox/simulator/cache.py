"""Prompt caching and cache diagnostics, simulated by prefix.

Docs: https://platform.claude.com/docs/en/build-with-claude/prompt-caching and
https://platform.claude.com/docs/en/build-with-claude/cache-diagnostics
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from course.model_catalogue import ModelData, ModelInfo, estimate_tokens

LOOKBACK = 20
TTL_SECONDS = {"5m": 300, "1h": 3600}
DEFAULT_MIN_CACHE_TOKENS = 1024
# How long a response's prompt fingerprint is kept for `diagnostics.previous_message_id`.
# The API's retention is not published (unsettled); a day covers a learner's session.
RECORD_SECONDS = 24 * 3600
MEMORY_RECORDS = 10_000


class CacheStore(Protocol):
    """Where simulated cache entries live: `live` looks up, `put` writes or refreshes;
    `remember` and `recall` keep each response's prompt fingerprint for cache diagnostics."""

    def live(self, key: str) -> bool: ...

    def put(self, key: str, ttl_seconds: int) -> None: ...

    def remember(self, message_id: str, record: dict[str, Any]) -> None: ...

    def recall(self, message_id: str) -> dict[str, Any] | None: ...


@dataclass
class MemoryStore:
    """A private, process-local store: check_lessons and tests run solutions in one of these."""

    clock: Callable[[], float] = time.monotonic
    entries: dict[str, float] = field(default_factory=dict)
    records: OrderedDict[str, dict[str, Any]] = field(default_factory=OrderedDict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def live(self, key: str) -> bool:
        with self.lock:
            return self.entries.get(key, 0.0) > self.clock()

    def put(self, key: str, ttl_seconds: int) -> None:
        with self.lock:
            self.entries[key] = self.clock() + ttl_seconds

    def remember(self, message_id: str, record: dict[str, Any]) -> None:
        with self.lock:
            self.records[message_id] = record
            while len(self.records) > MEMORY_RECORDS:  # a long-running server stays bounded
                self.records.popitem(last=False)

    def recall(self, message_id: str) -> dict[str, Any] | None:
        with self.lock:
            return self.records.get(message_id)


class DjangoCacheStore:
    """The site's store: Django's cache, shared by every process when it is Redis.

    Entries are scoped (per learner): a real cache belongs to one organisation, so a classmate's
    run must not turn a learner's first run into a read, nor find the learner's message ids.
    """

    def __init__(self, scope: str) -> None:
        self.prefix = f"sandbox-prefix:{scope}:"

    def live(self, key: str) -> bool:
        from django.core.cache import cache

        return cache.get(self.prefix + key) is not None

    def put(self, key: str, ttl_seconds: int) -> None:
        from django.core.cache import cache

        cache.set(self.prefix + key, 1, timeout=ttl_seconds)

    def remember(self, message_id: str, record: dict[str, Any]) -> None:
        from django.core.cache import cache

        cache.set(f"{self.prefix}msg:{message_id}", record, timeout=RECORD_SECONDS)

    def recall(self, message_id: str) -> dict[str, Any] | None:
        from django.core.cache import cache

        return cache.get(f"{self.prefix}msg:{message_id}")


def model_info(models: ModelData, model: str) -> ModelInfo | None:
    """The data file's entry for an alias or its dated snapshot."""
    return models.get(model) or next((m for m in models.models if m.snapshot == model), None)


def blocks(content: Any) -> list[Any]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    return list(content) if isinstance(content, list) else []


def block_tokens(block: Any) -> int:
    if isinstance(block, dict) and isinstance(block.get("text"), str):
        return estimate_tokens(block["text"])
    return estimate_tokens(json.dumps(block, sort_keys=True))


def prompt_blocks(body: dict[str, Any]) -> list[tuple[str, Any]]:
    """(role, block) in cache-prefix order: tools, then system, then messages."""
    items = [("tools", tool) for tool in body.get("tools") or []]
    items += [("system", block) for block in blocks(body.get("system"))]
    for message in body["messages"]:
        items += [(message["role"], block) for block in blocks(message["content"])]
    return items


def _bare(block: Any) -> Any:
    # A hit depends on the prefix's content, not on where the markers sit.
    if isinstance(block, dict):
        return {k: v for k, v in block.items() if k != "cache_control"}
    return block


def _digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()


def _images(value: Any) -> int:
    if isinstance(value, dict):
        return (value.get("type") == "image") + sum(_images(v) for v in value.values())
    if isinstance(value, list):
        return sum(_images(v) for v in value)
    return 0


def messages_settings(body: dict[str, Any]) -> dict[str, Any]:
    """What invalidates the messages level only: tool_choice, thinking settings, images."""
    return {
        "tool_choice": body.get("tool_choice") or {"type": "auto"},
        "thinking": body.get("thinking"),
        "images": _images(body["messages"]),
    }


def usage(body: dict[str, Any], models: ModelData, store: CacheStore) -> dict[str, Any]:
    """Input usage with the prompt cache simulated by prefix (see the package docstring)."""
    info = model_info(models, body["model"])
    minimum = (info.min_cache_tokens if info else None) or DEFAULT_MIN_CACHE_TOKENS
    digest = hashlib.sha256((info.id if info else body["model"]).encode()).digest()
    items = prompt_blocks(body)
    total, bounds = 0, []  # (key, cumulative tokens, ttl if this block is a breakpoint)
    settings_mixed = False
    for index, (role, block) in enumerate(items):
        if role not in ("tools", "system") and not settings_mixed:
            # Entering the messages level: its settings are part of every key from here on.
            digest = hashlib.sha256(digest + _digest(messages_settings(body)).encode()).digest()
            settings_mixed = True
        total += block_tokens(block)
        marker = block.get("cache_control") if isinstance(block, dict) else None
        if index == len(items) - 1 and marker is None:
            marker = body.get("cache_control")  # automatic caching: the last block
        digest = hashlib.sha256(digest + json.dumps([role, _bare(block)], sort_keys=True).encode())
        digest = digest.digest()
        ttl = marker.get("ttl", "5m") if isinstance(marker, dict) else None
        bounds.append((digest.hex(), total, ttl))
    read, hit_ttl, hit_key = 0, None, ""
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


def fingerprint(body: dict[str, Any], models: ModelData, counted: dict[str, Any]) -> dict:
    """What a later request's diagnostics compare against: each level's prefix, as digests."""
    info = model_info(models, body["model"])
    return {
        "model": info.id if info else body["model"],
        "tools": _digest([_bare(t) for t in body.get("tools") or []]),
        "system": _digest([_bare(b) for b in blocks(body.get("system"))]),
        "messages": [
            _digest([m["role"], [_bare(b) for b in blocks(m["content"])]]) for m in body["messages"]
        ],
        "settings": _digest(messages_settings(body)),
        # The prefix this request left in the cache (written or read).
        "cached": counted["cache_read_input_tokens"] + counted["cache_creation_input_tokens"],
    }


def diagnose(
    body: dict[str, Any], store: CacheStore, now: dict[str, Any], read: int
) -> dict[str, Any] | None:
    """The response's `diagnostics` for a request that asked for them (None when it did not).

    The first level that differs from the previous request names the reason, in prefix order;
    `messages_changed` means an earlier message changed, not that messages were appended.
    `cache_missed_input_tokens`: the previous request's cached prefix less what this one read.
    """
    asked = body.get("diagnostics")
    if not isinstance(asked, dict) or not asked.get("previous_message_id"):
        return None  # not asked, or the first turn (null): nothing to compare yet
    before = store.recall(asked["previous_message_id"])
    if before is None:
        return {"cache_miss_reason": {"type": "previous_message_not_found"}}
    messages = now["messages"][: len(before["messages"])] != before["messages"]
    for level, changed in (
        ("model", now["model"] != before["model"]),
        ("tools", now["tools"] != before["tools"]),
        ("system", now["system"] != before["system"]),
        ("messages", messages),
    ):
        if changed:
            missed = max(0, before["cached"] - read)
            reason = {"type": f"{level}_changed", "cache_missed_input_tokens": missed}
            return {"cache_miss_reason": reason}
    if now["settings"] != before["settings"]:
        return {"cache_miss_reason": {"type": "unavailable"}}
    return None  # no divergence detected
