"""Starting a tutor turn: the learner's allowance is charged in the same step, or nothing starts."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.utils import timezone

from course import allowance
from tutor.models import Conversation, Message


class NothingToRetry(Exception):
    """The reply is not a failed, retryable reply of this conversation (or is being retried)."""


class TooSoon(Exception):
    """The same question failed several times in a row: the next retry has to wait."""

    def __init__(self, wait: int) -> None:
        super().__init__(wait)
        self.wait = wait


@dataclass(frozen=True)
class Turn:
    charge: allowance.Charge
    reply: Message
    question: Message | None
    questions_left: int
    replaces: int | None = None  # the failed reply a retry takes the place of


def ask(conversation: Conversation, user, text: str, client_id: str, model: str) -> Turn:
    """Charge the learner, then save the question and an empty reply; or raise, charging nothing."""
    charge = allowance.reserve(user, "tutor")
    try:
        question, reply = conversation.start_turn(text, client_id, model)
    except Exception:
        charge.cancel()  # nothing was sent upstream
        raise
    return Turn(charge, reply, question, allowance.remaining(user).messages_left)


def retry(conversation: Conversation, user, message_id: int, model: str) -> Turn:
    """Answer a failed reply's question again; raise NothingToRetry, TooSoon, Refused or Busy."""
    failed = conversation.messages.filter(
        pk=message_id, status=Message.Status.FAILED, retryable=True
    ).first()
    if failed is None:
        raise NothingToRetry()
    wait = retry_wait(failed)
    if wait:
        raise TooSoon(wait)
    charge = allowance.reserve(user, "tutor")
    try:
        reply = conversation.retry_turn(failed, model)
    except Exception:
        charge.cancel()
        raise
    return Turn(charge, reply, None, allowance.remaining(user).messages_left, failed.pk)


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
