"""Starting a tutor turn, in one trip to the database.

The learner's allowance is charged in the same step, or nothing starts. The same trip saves the
question, builds the request sent upstream and renders the frame every socket shows, so neither
the generation nor the sockets go back to the database before the reply streams.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.contrib.sessions.backends.base import SessionBase
from django.utils import timezone

from course import allowance
from course.lessons import Lesson
from tutor import fragments
from tutor.attempts import latest_attempt_text
from tutor.context import build_messages
from tutor.models import Conversation, Message, PromptVersion
from tutor.prompts import system_blocks, system_json


class SignedOut(Exception):
    """The learner's session ended elsewhere (logged out in another tab)."""


class NothingToRetry(Exception):
    """The reply is not a failed, retryable reply of this conversation (or is being retried)."""


class TooSoon(Exception):
    """The same question failed several times in a row: the next retry has to wait."""

    def __init__(self, wait: int) -> None:
        super().__init__(wait)
        self.wait = wait


@dataclass(frozen=True)
class Turn:
    conversation: Conversation
    lesson: Lesson
    charge: allowance.Charge
    reply: Message
    asked: str  # the question being answered
    system: list[dict]  # the request sent upstream
    messages: list[dict]
    html: str  # the frame that shows the turn starting, for every socket
    replaces: int | None = None  # the failed reply a retry takes the place of


def ask(
    conversation: Conversation,
    lesson: Lesson,
    session: SessionBase,
    text: str,
    client_id: str,
    model: str,
) -> Turn:
    """Charge the learner, then save the question and an empty reply; or raise, charging nothing."""
    if not session.exists(session.session_key):
        raise SignedOut()
    user = conversation.user
    charge = allowance.reserve(user, "tutor")
    try:
        question, reply = conversation.start_turn(text, client_id, _reply_fields(lesson, model))
    except Exception:
        charge.cancel()  # nothing was sent upstream
        raise
    return _begin(conversation, lesson, charge, reply, [question, reply])


def retry(conversation: Conversation, lesson: Lesson, message_id: int, model: str) -> Turn:
    """Answer a failed reply's question again; raise NothingToRetry, TooSoon, Refused or Busy."""
    failed = conversation.messages.filter(
        pk=message_id,
        status__in=[Message.Status.FAILED, Message.Status.INTERRUPTED],
        retryable=True,
    ).first()
    if failed is None:
        raise NothingToRetry()
    wait = retry_wait(failed)
    if wait:
        raise TooSoon(wait)
    charge = allowance.reserve(conversation.user, "tutor")
    try:
        reply = conversation.retry_turn(failed, _reply_fields(lesson, model))
    except Exception:
        charge.cancel()
        raise
    return _begin(conversation, lesson, charge, reply, [reply], replaces=failed.pk)


def retry_wait(failed: Message) -> int:
    """Seconds before `failed` may be retried: none at first, then doubling up to a cap."""
    failures = failed.conversation.messages.filter(
        reply_to_id=failed.reply_to_id, status=Message.Status.FAILED
    ).count()
    if failures <= 1:
        return 0
    backoff = min(settings.TUTOR_RETRY_BACKOFF_CAP_SECONDS, 2 ** (failures - 1))
    waited = (timezone.now() - failed.updated_at).total_seconds()
    return max(0, round(backoff - waited))


# The system prompt of each lesson as last built: the catalogue hands out the same Lesson object
# until its file changes, and the prompt is the same for every learner of a lesson.
_systems: dict[str, tuple[Lesson, list[dict], str]] = {}


def system_prompt(lesson: Lesson) -> tuple[list[dict], str]:
    """The lesson's system blocks and their canonical JSON (what PromptVersion stores)."""
    built = _systems.get(lesson.slug)
    if built is None or built[0] is not lesson:
        blocks = system_blocks(lesson)
        built = _systems[lesson.slug] = (lesson, blocks, system_json(blocks))
    return built[1], built[2]


def _reply_fields(lesson: Lesson, model: str) -> dict:
    prompt = PromptVersion.for_text(lesson.slug, system_prompt(lesson)[1])
    return {"model": model, "max_tokens": settings.TUTOR_MAX_TOKENS, "prompt": prompt}


def _begin(
    conversation: Conversation,
    lesson: Lesson,
    charge: allowance.Charge,
    reply: Message,
    shown: list[Message],
    replaces: int | None = None,
) -> Turn:
    """Build the request for `reply` and the frame that shows it starting."""
    history = conversation.history_before(reply)
    messages, first = build_messages(history, settings.TUTOR_CONTEXT_BUDGET_TOKENS)
    attempt = latest_attempt_text(conversation.user, lesson)
    if attempt and messages:
        # After the last cache breakpoint: the cached prefix stays the same for everyone.
        messages[-1]["content"].append({"type": "text", "text": attempt})
    if first is not None:
        Message.objects.filter(pk=reply.pk).update(first_context_id=first)
        reply.first_context_id = first
    return Turn(
        conversation=conversation,
        lesson=lesson,
        charge=charge,
        reply=reply,
        asked=history[-1].text if history else "",
        system=system_prompt(lesson)[0],
        messages=messages,
        html=fragments.started(lesson, shown, charge.messages_left, replaces),
        replaces=replaces,
    )
