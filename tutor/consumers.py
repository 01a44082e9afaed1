from __future__ import annotations

import logging

from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from course import allowance
from course.lessons import Lesson, catalogue
from tutor import config, fragments, frames, generation, startup, turns
from tutor.models import Busy, Conversation, Duplicate, Message
from tutor.streaming import ReplyStream

logger = logging.getLogger(__name__)

# Close codes (an app can only send 1000 and 3000-4999 through daphne). htmx's ws extension does
# not reconnect after these, so a refused socket does not retry forever.
UNAUTHENTICATED, NOT_FOUND = 4401, 4404


class TutorConsumer(AsyncWebsocketConsumer):
    """Glue between one browser socket and the conversation it shows."""

    following: int | None = None  # the streaming reply this socket is showing
    sent_upto = 0  # how much of that reply's text this socket has sent
    snapshot_pending = False
    conversation: Conversation | None = None
    stream: ReplyStream | None = None  # renders that reply's Markdown as it arrives

    async def connect(self) -> None:
        await self.accept()  # then close with a 4xxx code: a refused handshake would retry forever
        self.lesson: Lesson | None = (await sync_to_async(catalogue)()).get(
            self.scope["url_route"]["kwargs"]["slug"]
        )
        if self.lesson is None or not self.lesson.tutor.enabled:
            await self.send(text_data=fragments.notice("This lesson has no tutor."))
            await self.close(code=NOT_FOUND)
            return
        user = self.scope["user"]
        if not user.is_authenticated:
            await self.send(text_data=fragments.notice("Sign in to ask the tutor."))
            await self.close(code=UNAUTHENTICATED)
            return
        await database_sync_to_async(startup.interrupt_orphans_once)()
        self.conversation = await database_sync_to_async(Conversation.objects.current_for)(
            user, self.lesson.slug
        )
        await self.channel_layer.group_add(self.conversation.group_name, self.channel_name)
        reply = await database_sync_to_async(self.conversation.streaming_reply)()
        if reply is not None:
            await self._follow(reply.pk, reply.text)
            await generation.request_snapshot(self.conversation, self.channel_name)
        else:
            # After a reconnect the page may still show a reply that ended, or died with the
            # server, while the socket was down: show it as it really is, without a reload.
            last = await database_sync_to_async(self.conversation.last_reply)()
            if last is not None:
                await self.send(text_data=fragments.resync(last))
        await self.send(text_data=fragments.actions(streaming=reply is not None))

    async def disconnect(self, code: int) -> None:
        # The reply being written goes on: it is saved and shown on the next visit.
        if self.conversation is not None:
            await self.channel_layer.group_discard(self.conversation.group_name, self.channel_name)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if self.conversation is None:
            return
        try:
            frame = frames.parse(text_data, bytes_data)
        except frames.BadFrame as error:
            await self.send(text_data=fragments.notice(str(error)))
            return
        if await self._signed_out(frame.text):
            return
        try:
            if frame.action == "stop":
                await generation.stop(self.conversation)
            elif frame.action == "retry":
                await self._retry(frame.message_id)
            elif frame.action in turns.FOLLOW_UPS:
                await self._follow_up(frame)
            else:
                await self._ask(frame.text.strip(), frame.client_id, frame.text)
        except Exception:
            # A bug must not close the socket on the learner: say so in the panel, log it loudly.
            logger.exception("tutor frame %s failed", frame.action)
            html = fragments.notice("Something went wrong with that message. Try again.")
            if frame.action == "send":
                html += fragments.restore_input(frame.text)
            await self.send(text_data=html)

    async def _ask(self, question: str, client_id: str, typed: str) -> None:
        if not question:
            await self.send(text_data=fragments.notice("Type a question first."))
            return
        if len(question) > settings.TUTOR_MAX_MESSAGE_CHARS:
            await self._refuse(
                f"Your question is {len(question):,} characters long; the tutor takes up to "
                f"{settings.TUTOR_MAX_MESSAGE_CHARS:,}. Shorten it and send again.",
                typed,
            )
            return
        try:
            turn = await database_sync_to_async(turns.ask)(
                self.conversation, self.scope["user"], question, client_id, config.reply_model()
            )
        except allowance.Refused as refused:
            await self._refuse(refused.message, typed)
            return
        except Duplicate:
            return  # a flaky connection re-sent a message that is already being answered
        except Busy:
            await self._refuse("The tutor is still answering. Wait for it, or press Stop.", typed)
            return
        await self._started(turn)

    async def _retry(self, message_id: int | None) -> None:
        try:
            turn = await database_sync_to_async(turns.retry)(
                self.conversation, self.scope["user"], message_id, config.reply_model()
            )
        except turns.NothingToRetry:
            await self.send(text_data=fragments.notice("There is nothing to retry."))
        except Duplicate:
            await self.send(text_data=fragments.notice("That reply is already being retried."))
        except turns.TooSoon as too_soon:
            await self.send(
                text_data=fragments.notice(
                    f"That question failed several times in a row. Try again in {too_soon.wait} s."
                )
            )
        except allowance.Refused as refused:
            await self.send(text_data=fragments.notice(refused.message))
        except Busy:
            await self.send(text_data=fragments.notice("The tutor is still answering."))
        else:
            await self._started(turn)

    async def _follow_up(self, frame: frames.Frame) -> None:
        """Regenerate the latest reply, or continue one cut short (see tutor/turns.py)."""
        start = turns.FOLLOW_UPS[frame.action]
        try:
            turn = await database_sync_to_async(start)(
                self.conversation, self.scope["user"], frame.message_id, config.reply_model()
            )
        except turns.Declined as declined:
            await self.send(text_data=fragments.notice(declined.message))
        else:
            await self._started(turn)

    async def _started(self, turn: turns.Turn) -> None:
        event = {
            "type": "tutor.started",
            "question_id": turn.question.pk if turn.question else None,
            "reply_id": turn.reply.pk,
            "questions_left": turn.questions_left,
        }
        if turn.replaces:
            event["replaces"] = turn.replaces
        await self.channel_layer.group_send(self.conversation.group_name, event)
        generation.start(self.conversation, turn.reply, self.lesson, turn.charge)

    async def _signed_out(self, typed: str) -> bool:
        """A tab whose session ended elsewhere (logged out in another tab) stops asking."""
        session = self.scope["session"]
        if await database_sync_to_async(session.exists)(session.session_key):
            return False
        # The question goes back in the box: it is not lost, and can be sent after logging in.
        await self._refuse("You were logged out. Log in again to ask the tutor.", typed)
        await self.close(code=UNAUTHENTICATED)
        return True

    async def _refuse(self, reason: str, typed: str) -> None:
        await self.send(text_data=fragments.notice(reason) + fragments.restore_input(typed))

    async def _follow(self, reply_id: int, text: str) -> None:
        self.following, self.sent_upto = reply_id, len(text)
        self.stream = ReplyStream(reply_id)
        await self.send(text_data=self.stream.snapshot(text))

    # Group events: every socket showing this conversation gets them.

    async def tutor_started(self, event: dict) -> None:
        ids = [i for i in (event["question_id"], event["reply_id"]) if i]
        rows = await database_sync_to_async(
            lambda: list(Message.objects.filter(pk__in=ids).select_related("feedback"))
        )()
        html = fragments.clear_notice() + fragments.actions(streaming=True)
        html += fragments.starters(self.lesson, show=False)
        html += fragments.questions_left(event["questions_left"])
        if event.get("replaces"):
            html += f'<div id="msg-{event["replaces"]}" hx-swap-oob="delete"></div>'
        await self.send(text_data=html + fragments.appended(*rows))
        self.following, self.sent_upto = event["reply_id"], 0
        self.stream = ReplyStream(event["reply_id"])

    async def tutor_delta(self, event: dict) -> None:
        if event["message_id"] != self.following:
            return
        start, text = event["offset"], event["text"]
        end = start + len(text)
        if end <= self.sent_upto:
            return
        if start > self.sent_upto:
            # We missed text (joined mid-reply, or the layer dropped a frame): ask the writer
            # for everything so far; later deltas continue from there.
            if not self.snapshot_pending:
                self.snapshot_pending = True
                await generation.request_snapshot(self.conversation, self.channel_name)
            return
        await self.send(text_data=self.stream.feed(text[self.sent_upto - start :]))
        self.sent_upto = end

    async def tutor_snapshot(self, event: dict) -> None:
        self.snapshot_pending = False
        if event["message_id"] == self.following and len(event["text"]) > self.sent_upto:
            await self._follow(self.following, event["text"])

    async def tutor_finished(self, event: dict) -> None:
        reply = await database_sync_to_async(Message.objects.select_related("feedback").get)(
            pk=event["message_id"]
        )
        self.following = None
        await self.send(
            text_data=fragments.message(reply, oob="outerHTML") + fragments.actions(streaming=False)
        )
