"""Read what the browser sends over the tutor socket, whatever shape htmx gave it."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

MAX_FRAME_BYTES = 64 * 1024
CLIENT_ID = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
ACTIONS = {"send", "stop", "retry"}


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
    if len(text_data.encode()) > MAX_FRAME_BYTES:
        raise BadFrame("That message is too large to send.")
    try:
        data = json.loads(text_data)
    except ValueError:
        raise BadFrame("That message could not be read. Reload the page and try again.") from None
    if not isinstance(data, dict):
        raise BadFrame("That message could not be read. Reload the page and try again.")
    # htmx 2 sends {"message": …, "HEADERS": …}; htmx 4 betas nest the values under "body".
    if isinstance(data.get("body"), dict):
        data = data["body"]
    action = data.get("action") or "send"
    if action not in ACTIONS:
        raise BadFrame("The tutor does not know that action.")
    client_id = data.get("client_id")
    client_id = client_id if isinstance(client_id, str) and CLIENT_ID.match(client_id) else ""
    if action == "retry":
        try:
            return Frame("retry", message_id=int(data.get("message_id")))
        except (TypeError, ValueError):
            raise BadFrame("The tutor could not tell which reply to retry.") from None
    text = data.get("message", "")
    if not isinstance(text, str):
        raise BadFrame("That message could not be read. Reload the page and try again.")
    # Fields a client adds (model, system, max_tokens, role …) are ignored: only text is used.
    return Frame(action, text=text.replace("\x00", ""), client_id=client_id)
