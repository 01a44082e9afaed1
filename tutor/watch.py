"""What a tutor socket reads from the database: on connecting, and when a reply goes quiet.

Pure reads: the socket saves a reply whose writer died as interrupted first (TutorConsumer).
"""

from __future__ import annotations

from dataclasses import dataclass

from tutor import fragments
from tutor.models import Conversation, Message
from tutor.streaming import ReplyStream


@dataclass(frozen=True)
class Opened:
    conversation: Conversation | None  # None until the learner's first question starts one
    streaming: Message | None  # the reply being written, if any
    html: str  # what the socket sends first: that reply so far, or the last reply as it is


def open_conversation(user, lesson_slug: str) -> Opened:
    conversation = Conversation.objects.current_or_none(user, lesson_slug)
    if conversation is None:
        return Opened(None, None, "")
    conversation.user = user  # the turn reads it; saves a query
    streaming = conversation.streaming_reply()
    if streaming is not None:
        return Opened(conversation, streaming, ReplyStream(streaming.pk).snapshot(streaming.text))
    last = conversation.last_reply()
    return Opened(conversation, None, fragments.resync(last) if last is not None else "")


def ended_html(reply_id: int) -> str | None:
    """The reply as it ended, once its writer has finished or was saved dead; None while it is
    streaming."""
    reply = Message.objects.select_related("feedback").filter(pk=reply_id).first()
    if reply is None or reply.is_streaming:
        return None
    return fragments.resync(reply) + fragments.status(reply) + fragments.actions(streaming=False)
