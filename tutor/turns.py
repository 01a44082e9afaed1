"""Starting a tutor turn, in one trip to the database: a retry or a regeneration here, and
what every turn shares; a question (a continuation too) starts in tutor/turn_starts.py.

The learner's allowance is charged in the same step, or nothing starts. The same trip saves the
question, builds the request sent upstream and renders the frame every socket shows, so neither
the generation nor the sockets go back to the database before the reply streams.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from django.conf import settings
from django.contrib.sessions.backends.base import SessionBase
from django.utils import timezone

from course import allowance
from course.lessons import Lesson
from tutor import fragments
from tutor.attempts import latest_attempt_text
from tutor.models import Busy, Conversation, Duplicate, Message, PromptVersion
from tutor.prompts import system_blocks, system_json
from tutor.trimming import build_messages

CONTINUE_TEXT = "Continue from where your last reply stopped."


class SignedOut(Exception):
    """The learner's session ended elsewhere (logged out in another tab)."""


class NothingToRetry(Exception):
    """The reply is not a failed, retryable reply of this conversation (or is being retried)."""


NOTHING_TO_RETRY = "There is nothing to retry."
NOT_REGENERABLE = "Only the latest finished reply can be regenerated."
NOT_CONTINUABLE = "Only the latest reply, when it was cut short, can be continued."
STILL_ANSWERING = "The tutor is still answering. Wait for it, or press Stop."  # a busy turn


class Declined(Exception):
    """A regenerate or continue that cannot start; the message is shown to the learner as is."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


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
    replaces: int | None = None  # the reply (failed, or regenerated) this one takes the place of
    previous_message_id: str | None = None  # the last reply's msg_ id, for cache diagnostics


def retry(
    conversation: Conversation,
    lesson: Lesson,
    message_id: int,
    model: str,
    *,
    live: Collection[int],
) -> Turn:
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
    charge = _charge(conversation.user, model)
    try:
        reply = conversation.retry_turn(failed, reply_fields(lesson, model), live)
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


def regenerate(
    conversation: Conversation,
    lesson: Lesson,
    session: SessionBase,
    message_id: int,
    model: str,
    *,
    live: Collection[int],
) -> Turn:
    """Answer the latest finished reply's question again; the new reply takes its place."""
    old = conversation.last_reply()
    if old is not None and old.pk == message_id and old.is_streaming:
        raise Declined("The tutor is still writing that reply. Wait for it, or press Stop.")
    if old is None or old.pk != message_id or old.status not in Message.REGENERABLE:
        raise Declined(NOT_REGENERABLE)
    charge = _reserve(conversation.user, model)
    try:
        reply = conversation.regenerate_turn(old, reply_fields(lesson, model), live)
    except Busy:
        charge.cancel()
        raise Declined(STILL_ANSWERING) from None
    except Duplicate:
        charge.cancel()
        raise Declined("That reply is already being regenerated.") from None
    except Exception:
        charge.cancel()
        raise
    return _begin(conversation, lesson, charge, reply, [reply], replaces=old.pk)


def _charge(user, model: str) -> allowance.Charge:
    """The charge for one reply; an offline reply costs nothing and uses no allowance."""
    return allowance.reserve(user, "tutor", model=model, free=model == "offline")


def _reserve(user, model: str) -> allowance.Charge:
    try:
        return _charge(user, model)
    except allowance.Refused as refused:
        raise Declined(refused.message) from None


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


def reply_fields(lesson: Lesson, model: str) -> dict:
    prompt = PromptVersion.id_for(lesson.slug, system_prompt(lesson)[1])
    return {"model": model, "max_tokens": settings.TUTOR_MAX_TOKENS, "prompt_id": prompt}


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
    if first is not None:
        reply.save_first_context(first)
    return make_turn(
        conversation, lesson, charge, reply, shown, history, messages, attempt, replaces
    )


def make_turn(
    conversation: Conversation,
    lesson: Lesson,
    charge: allowance.Charge,
    reply: Message,
    shown: list[Message],
    history: list[Message],
    messages: list[dict],
    attempt: str | None,
    replaces: int | None = None,
) -> Turn:
    """The turn of a saved `reply`, given what is sent upstream (see `build_messages`)."""
    if attempt and messages:
        # After the last cache breakpoint: the cached prefix stays the same for everyone.
        messages[-1]["content"].append({"type": "text", "text": attempt})
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
        previous_message_id=next(
            (m.api_message_id for m in reversed(history) if m.api_message_id), None
        ),
    )
