"""The HTML the tutor socket sends: only hx-swap-oob elements with ids (see templates/tutor/).

A finished reply that replaces what the page shows is marked `data-final` (tutor/markup.py).
"""

from __future__ import annotations

import json

from django.conf import settings
from django.template.loader import render_to_string

from course.lessons import Lesson
from tutor.models import Message


def message(message: Message, oob: str = "true", final: bool = False) -> str:
    # Rendering runs in the event loop, where a query raises: load `feedback` with the message.
    context = {"message": message, "oob": oob, "final": final}
    html = render_to_string("tutor/_message.html", context)
    return html + status(message) if message.is_assistant else html


def started(
    lesson: Lesson, shown: list[Message], messages_left: int, replaces: int | None = None
) -> str:
    """A turn starting: the new messages appended, the failed reply it retries removed."""
    html = clear_notice() + actions(streaming=True) + starters(lesson, show=False)
    html += questions_left(messages_left)
    if replaces:
        html += render_to_string("tutor/_removed.html", {"pk": replaces})
    return html + appended(*shown)


def finished(reply: Message) -> str:
    """A reply that ended, replacing the streaming one, and the controls back to Send."""
    return message(reply, oob="outerHTML", final=True) + actions(streaming=False)


def resync(reply: Message) -> str:
    """A reply as it really is, for a page that reconnected and may still show it streaming.

    tutor-connection.js applies it only over a reply shown as streaming: a finished reply on the
    page (and any feedback being typed under it) is left alone.
    """
    return render_to_string(
        "tutor/_message.html", {"message": reply, "oob": "outerHTML", "resync": True, "final": True}
    )


def status(reply: Message) -> str:
    """What a screen reader hears about a reply: once when it starts, once when it ends."""
    return render_to_string("tutor/_status.html", {"message": reply})


def appended(*messages: Message) -> str:
    """New messages at the end of the log."""
    return render_to_string("tutor/_appended.html", {"messages": messages})


def actions(streaming: bool) -> str:
    return render_to_string("tutor/_actions.html", {"streaming": streaming, "oob": True})


def notice(text: str) -> str:
    return render_to_string("tutor/_notice.html", {"text": text, "oob": True})


def clear_notice() -> str:
    return notice("")


def restore_input(text: str) -> str:
    """Put a refused question back in the box: nothing a learner wrote is lost."""
    return render_to_string(
        "tutor/_input.html",
        {"text": text, "oob": True, "max_chars": settings.TUTOR_MAX_MESSAGE_CHARS},
    )


def starters(lesson: Lesson, show: bool, oob: bool = True) -> str:
    return render_to_string(
        "tutor/_starters.html", {"show": show, "starters": starter_buttons(lesson), "oob": oob}
    )


def starter_buttons(lesson: Lesson) -> list[dict]:
    return [{"text": text, "vals": json.dumps({"message": text})} for text in lesson.tutor.starters]


def questions_left(count: int) -> str:
    return render_to_string("tutor/_allowance.html", {"messages_left": max(0, count), "oob": True})
