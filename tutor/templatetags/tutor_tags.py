from __future__ import annotations

from django import template
from django.utils.safestring import SafeString, mark_safe

from course.markdown import render_untrusted
from tutor import feedback
from tutor.models import Feedback, Message

register = template.Library()


@register.filter
def reply_html(text: str) -> SafeString:
    """A finished reply: Markdown rendered with raw HTML off, then sanitized by nh3."""
    return mark_safe(render_untrusted(text))  # noqa: S308


@register.filter
def accepts_feedback(message: Message) -> bool:
    return feedback.accepts_feedback(message)


@register.filter
def saved_feedback(message: Message) -> Feedback | None:
    return feedback.saved_feedback(message)


@register.simple_tag
def feedback_reasons() -> list[tuple[str, str]]:
    return Feedback.Reason.choices
