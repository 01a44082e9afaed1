"""The tutor's markup contract: the ids its socket's frames swap, and the mark of a finished reply.

Templates (the `message_id` filter), tutor/streaming.py, the tests and the benchmark all name a
message's elements through these functions, and recognise a finished reply by `FINAL`, so none of
them matches a copied string. Plain Python: the benchmark's load generator imports it without
Django.
"""

from __future__ import annotations

import re

# The parts of a streaming reply (tutor/streaming.py): its body, the finished Markdown blocks
# appended to it, and the open block that replaces itself on every delta.
TEXT, DONE, OPEN = "text", "done", "open"

# On the article of a finished reply that replaces whatever the page shows of it (the end of a
# stream, or a resync after a reconnect); its value is the reply's status.
FINAL = "data-final"

_PREFIX = "msg-"
_PARTS = f"{TEXT}|{DONE}|{OPEN}"
_PART = re.compile(rf"{_PREFIX}(\d+)-({_PARTS})")
_MESSAGE = re.compile(rf'\bid="{_PREFIX}(\d+)"')
_PART_ID = re.compile(rf'\bid="{_PREFIX}(\d+)-(?:{_PARTS})"')
_FINAL = re.compile(rf'\b{FINAL}="(\w+)"')


def message_id(pk: int) -> str:
    return f"{_PREFIX}{pk}"


def part_id(pk: int, part: str) -> str:
    return f"{message_id(pk)}-{part}"


def part_of(element_id: str) -> tuple[int, str] | None:
    """The message and part a streaming reply's element id names, or None for any other id."""
    match = _PART.fullmatch(element_id)
    return (int(match[1]), match[2]) if match else None


def first_message(html: str) -> int | None:
    """The id of the first message element in `html` (a frame or a page), or None."""
    match = _MESSAGE.search(html)
    return int(match[1]) if match else None


def streaming_reply(html: str) -> int | None:
    """The id of the first reply whose streaming parts `html` holds, or None."""
    match = _PART_ID.search(html)
    return int(match[1]) if match else None


def final_status(frame: str) -> str | None:
    """The status of the finished reply `frame` carries, or None when it carries none."""
    match = _FINAL.search(frame)
    return match[1] if match else None
