"""What the lesson page needs to draw the tutor panel."""

from __future__ import annotations

from urllib.parse import urlencode

from django.conf import settings
from django.http import HttpRequest

from course import allowance
from course.lessons import Lesson
from tutor import config, fragments, generation
from tutor.models import Conversation, Message

PAST_SHOWN = 20  # past conversations listed in the panel, newest first


def interrupt_dead_replies(request: HttpRequest, lesson: Lesson) -> None:
    """Save the learner's replies on this lesson whose writer died as interrupted, so that the
    panel does not show them as still being written."""
    if lesson.tutor.enabled and request.user.is_authenticated:
        current = Message.objects.filter(
            conversation__user=request.user,
            conversation__lesson_slug=lesson.slug,
            conversation__archived=False,
        )
        current.interrupt_stale(generation.live_writers())


def panel_context(request: HttpRequest, lesson: Lesson) -> dict | None:
    if not lesson.tutor.enabled:
        return None
    reason = config.offline_reason()
    context = {
        "online": not reason,
        "offline_reason": reason,
        # Offline although a key is set: the site's daily budget is spent; say so in the panel.
        "ceiling": reason if settings.ANTHROPIC_API_KEY else "",
        "ws_url": f"/ws/tutor/{lesson.slug}/",
    }
    if not request.user.is_authenticated:
        # A starter question survives signing up: it comes back in ?ask= and waits in the box.
        links = [
            {"text": text, "next": f"{request.path}?{urlencode({'ask': text})}#tutor"}
            for text in lesson.tutor.starters
        ]
        return context | {"starter_links": links}
    # None until the first question: opening a lesson creates no conversation.
    conversation = Conversation.objects.current_or_none(request.user, lesson.slug)
    messages = list(conversation.shown_messages()) if conversation is not None else []
    return context | {
        "conversation": conversation,
        "messages": messages,
        "streaming": any(m.is_streaming for m in messages),
        "show_starters": not messages,
        "starters": fragments.starter_buttons(lesson),
        "allowance": allowance.remaining(request.user),
        "max_chars": settings.TUTOR_MAX_MESSAGE_CHARS,
        "draft": request.GET.get("ask", "")[: settings.TUTOR_MAX_MESSAGE_CHARS],
        "retention_days": settings.TUTOR_RETENTION_DAYS,
        "past": Conversation.objects.past_for(request.user, lesson.slug, PAST_SHOWN),
        "past_shown": PAST_SHOWN,
    }
