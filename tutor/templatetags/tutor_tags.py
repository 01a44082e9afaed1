from __future__ import annotations

from django import template
from django.utils.safestring import SafeString, mark_safe

from tutor import feedback
from tutor.models import Feedback, Message
from tutor.streaming import render_reply

register = template.Library()


@register.filter
def reply_html(text: str) -> SafeString:
    """A reply: Markdown rendered block by block with raw HTML off, each sanitized by nh3."""
    return mark_safe(render_reply(text))  # noqa: S308


@register.filter
def accepts_feedback(message: Message) -> bool:
    return feedback.accepts_feedback(message)


@register.filter
def saved_feedback(message: Message) -> Feedback | None:
    return feedback.saved_feedback(message)


@register.simple_tag
def feedback_reasons() -> list[tuple[str, str]]:
    return Feedback.Reason.choices
