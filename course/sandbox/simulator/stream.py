"""A final message as the documented SSE sequence, and that sequence as bytes.

Docs: https://platform.claude.com/docs/en/build-with-claude/streaming
"""

from __future__ import annotations

import json
from typing import Any

from course.sandbox.simulator.tokens import words

WORDS_PER_DELTA = 3


def _chunks(text: str) -> list[str]:
    pieces = words(text)
    return [
        "".join(pieces[at : at + WORDS_PER_DELTA]) for at in range(0, len(pieces), WORDS_PER_DELTA)
    ]


def _block_events(index: int, block: dict[str, Any]) -> list[dict[str, Any]]:
    """content_block_start, its deltas (which rebuild the block exactly), content_block_stop."""
    kind = block["type"]
    deltas: list[dict[str, Any]] = []
    if kind == "text":
        start = {"type": "text", "text": ""}
        deltas = [{"type": "text_delta", "text": c} for c in _chunks(block["text"])]
    elif kind == "thinking":
        start = {"type": "thinking", "thinking": "", "signature": ""}
        deltas = [{"type": "thinking_delta", "thinking": c} for c in _chunks(block["thinking"])]
        deltas.append({"type": "signature_delta", "signature": block["signature"]})
    elif kind == "tool_use":
        start = {**block, "input": {}}
        partial = json.dumps(block["input"])
        deltas = [{"type": "input_json_delta", "partial_json": ""}]  # as the API's first delta
        deltas += [{"type": "input_json_delta", "partial_json": c} for c in _chunks(partial)]
    else:  # a block the simulator never writes itself (a server tool's, say): whole at start
        start = block
    return [
        {"type": "content_block_start", "index": index, "content_block": start},
        *({"type": "content_block_delta", "index": index, "delta": d} for d in deltas),
        {"type": "content_block_stop", "index": index},
    ]


def stream_events(message: dict[str, Any], counted: dict[str, Any]) -> list[dict[str, Any]]:
    """The documented SSE sequence for `message`: start, blocks (a ping after the first block
    starts), one message_delta with the cumulative usage, stop."""
    start = {**message, "content": [], "stop_reason": None, "stop_sequence": None}
    start["usage"] = {**counted, "output_tokens": 1}
    events = [{"type": "message_start", "message": start}]
    for index, block in enumerate(message["content"]):
        block_events = _block_events(index, block)
        events.append(block_events[0])
        if index == 0:
            events.append({"type": "ping"})
        events += block_events[1:]
    if not message["content"]:
        events.append({"type": "ping"})
    end = {
        "stop_reason": message["stop_reason"],
        "stop_sequence": message["stop_sequence"],
        "stop_details": message.get("stop_details"),
    }
    usage = {"output_tokens": message["usage"]["output_tokens"]}  # cumulative
    events.append({"type": "message_delta", "delta": end, "usage": usage})
    events.append({"type": "message_stop"})
    return [{"event": data["type"], "data": data} for data in events]


def sse(events: list[dict[str, Any]]) -> bytes:
    """The events as the bytes of a text/event-stream body."""
    return b"".join(
        f"event: {e['event']}\ndata: {json.dumps(e['data'])}\n\n".encode() for e in events
    )
