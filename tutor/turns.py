"""Starting a tutor turn: the learner's allowance is charged in the same step, or nothing starts."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.utils import timezone

from course import allowance
from tutor.models import Busy, Conversation, Duplicate, Message

CONTINUE_TEXT = "Continue from where your last reply stopped."


class NothingToRetry(Exception):
    """The reply is not a failed, retryable reply of this conversation (or is being retried)."""


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
    charge: allowance.Charge
    reply: Message
    question: Message | None
    questions_left: int
    replaces: int | None = None  # the reply (failed, or regenerated) this one takes the place of


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


def regenerate(conversation: Conversation, user, message_id: int, model: str) -> Turn:
    """Answer the latest finished reply's question again; the new reply takes its place."""
    old = conversation.last_reply()
    if old is not None and old.pk == message_id and old.is_streaming:
        raise Declined("The tutor is still writing that reply. Wait for it, or press Stop.")
    if old is None or old.pk != message_id or old.status not in Message.REGENERABLE:
        raise Declined("Only the latest finished reply can be regenerated.")
    charge = _reserve(user)
    try:
        reply = conversation.regenerate_turn(old, model)
    except Busy:
        charge.cancel()
        raise Declined("The tutor is still answering. Wait for it, or press Stop.") from None
    except Duplicate:
        charge.cancel()
        raise Declined("That reply is already being regenerated.") from None
    except Exception:
        charge.cancel()
        raise
    return Turn(charge, reply, None, allowance.remaining(user).messages_left, old.pk)


def continue_reply(conversation: Conversation, user, message_id: int, model: str) -> Turn:
    """Ask for the rest of a reply cut short by its length limit, as a question of its own.

    Claude 4.6 and later refuse a conversation that ends with an assistant turn (prefill), so
    the learner asks to continue; a second click on the same reply is a duplicate.
    """
    last = conversation.last_reply()
    if last is None or last.pk != message_id or last.stop_reason != "max_tokens":
        raise Declined("Only the latest reply, when it was cut short, can be continued.")
    try:
        return ask(conversation, user, CONTINUE_TEXT, f"continue-{last.pk}", model)
    except allowance.Refused as refused:
        raise Declined(refused.message) from None
    except Busy:
        raise Declined("The tutor is still answering. Wait for it, or press Stop.") from None
    except Duplicate:
        raise Declined("That reply is already being continued.") from None


FOLLOW_UPS = {"regenerate": regenerate, "continue": continue_reply}


def _reserve(user) -> allowance.Charge:
    try:
        return allowance.reserve(user, "tutor")
    except allowance.Refused as refused:
        raise Declined(refused.message) from None
