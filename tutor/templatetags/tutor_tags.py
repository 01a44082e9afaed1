from __future__ import annotations

from django import template
from django.utils.safestring import SafeString, mark_safe

from tutor import feedback, frames, markup
from tutor.models import Feedback, Message
from tutor.streaming import ReplyStream, render_reply

register = template.Library()


@register.filter
def reply_html(text: str) -> SafeString:
    """A reply: Markdown rendered block by block with raw HTML off, each sanitized by nh3."""
    return mark_safe(render_reply(text))  # noqa: S308


@register.filter
def message_id(pk: int) -> str:
    return markup.message_id(pk)


@register.filter
def streaming_body(message: Message) -> SafeString:
    """A streaming reply's body, as tutor/streaming.py writes it: the socket's frames extend it."""
    return mark_safe(ReplyStream(message.pk).body(message.text))  # noqa: S308


@register.simple_tag
def socket_limits() -> dict[str, int]:
    """The server's rules that static/js/tutor-connection.js applies before sending."""
    return {"unauthenticated": frames.UNAUTHENTICATED, "max_frame_bytes": frames.MAX_FRAME_BYTES}


@register.filter
def accepts_feedback(message: Message) -> bool:
    return feedback.accepts_feedback(message)


@register.filter
def saved_feedback(message: Message) -> Feedback | None:
    return feedback.saved_feedback(message)


@register.simple_tag
def feedback_reasons() -> list[tuple[str, str]]:
    return Feedback.Reason.choices
