"""What the lesson page needs to draw the tutor panel."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest

from course import allowance
from course.lessons import Lesson
from tutor import config, fragments
from tutor.models import Conversation


def panel_context(request: HttpRequest, lesson: Lesson) -> dict | None:
    if not lesson.tutor.enabled:
        return None
    context = {"online": config.online(), "ws_url": f"/ws/tutor/{lesson.slug}/"}
    if not request.user.is_authenticated:
        return context
    conversation = Conversation.objects.current_for(request.user, lesson.slug)
    conversation.streaming_reply()  # marks replies whose writer died as interrupted
    messages = list(conversation.messages.select_related("feedback"))
    return context | {
        "conversation": conversation,
        "messages": messages,
        "streaming": any(m.is_streaming for m in messages),
        "show_starters": not messages,
        "starters": fragments.starter_buttons(lesson),
        "allowance": allowance.remaining(request.user),
        "max_chars": settings.TUTOR_MAX_MESSAGE_CHARS,
        "retention_days": settings.TUTOR_RETENTION_DAYS,
    }
