"""Read what the browser sends over the tutor socket, whatever shape htmx gave it."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

MAX_FRAME_BYTES = 64 * 1024  # the page's script refuses bigger ones too (tutor_tags.socket_limits)
# Close codes (an app can only send 1000 and 3000-4999 through daphne). htmx's ws extension does
# not reconnect after these, so a refused socket does not retry forever.
UNAUTHENTICATED, NOT_FOUND = 4401, 4404
MAX_DEPTH = 20  # htmx sends two levels; deeper JSON is not a question and can exhaust the stack
CLIENT_ID = re.compile(r"[A-Za-z0-9_-]{8,64}")
ACTIONS = {"send", "stop", "retry", "regenerate", "continue"}
ON_A_REPLY = {"retry", "regenerate", "continue"}  # actions that name the reply they act on
MAX_ID = 2**63 - 1  # the largest primary key the database can hold
LONE_SURROGATE = re.compile(r"[\ud800-\udfff]")
UNREADABLE = "That message could not be read. Reload the page and try again."


class BadFrame(ValueError):
    """A frame the tutor cannot act on; the message is shown to the learner as is."""


@dataclass(frozen=True)
class Frame:
    action: str
    text: str = ""
    client_id: str = ""
    message_id: int | None = None


def parse(text_data: str | None, bytes_data: bytes | None) -> Frame:
    if bytes_data is not None and text_data is None:
        raise BadFrame("The tutor only understands text messages.")
    if not text_data or not text_data.strip():
        raise BadFrame("That message was empty.")
    if len(text_data.encode("utf-8", "surrogatepass")) > MAX_FRAME_BYTES:
        limit = MAX_FRAME_BYTES // 1024
        raise BadFrame(f"That message is too large to send: the tutor takes up to {limit} KiB.")
    brackets = text_data.count("[") + text_data.count("{")
    if brackets > MAX_DEPTH and _depth(text_data) > MAX_DEPTH:
        raise BadFrame(UNREADABLE)
    try:
        data = json.loads(text_data, parse_constant=_no_constant)
    except (ValueError, RecursionError):
        raise BadFrame(UNREADABLE) from None
    if not isinstance(data, dict):
        raise BadFrame(UNREADABLE)
    # htmx 2 sends {"message": …, "HEADERS": …}; htmx 4 betas nest the values under "body".
    if isinstance(data.get("body"), dict):
        data = data["body"]
    action = data.get("action") or "send"
    if not isinstance(action, str) or action not in ACTIONS:
        raise BadFrame("The tutor does not know that action.")
    client_id = data.get("client_id")
    client_id = client_id if isinstance(client_id, str) and CLIENT_ID.fullmatch(client_id) else ""
    if action in ON_A_REPLY:
        return Frame(action, message_id=_message_id(data.get("message_id"), action))
    text = data.get("message", "")
    if not isinstance(text, str):
        raise BadFrame(UNREADABLE)
    # Fields a client adds (model, system, max_tokens, role …) are ignored: only text is used.
    # NUL and lone surrogates cannot be stored; the rest of what the learner wrote is kept.
    return Frame(
        action, text=LONE_SURROGATE.sub("\ufffd", text.replace("\x00", "")), client_id=client_id
    )


def _message_id(value: object, action: str) -> int:
    """A reply's id: a whole number as JSON or as a string, within what the database holds."""
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= MAX_ID:
        raise BadFrame(f"The tutor could not tell which reply to {action}.")
    return value


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not a number")  # NaN and Infinity are not JSON


def _depth(text: str) -> int:
    """How deeply brackets nest, counted without parsing (strings may contain brackets too)."""
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest
