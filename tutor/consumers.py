from __future__ import annotations

import asyncio
import logging
import time

from channels.consumer import get_handler_name
from channels.generic.websocket import AsyncWebsocketConsumer
from channels.security.websocket import WebsocketDenier
from django.conf import settings
from django.db import DatabaseError
from django.http.request import split_domain_port, validate_host

from course import allowance
from course.lessons import Lesson, catalogue
from course.sandbox.guards import impatient
from tutor import config, db, fragments, frames, generation, orphans, turn_starts, turns, watch
from tutor.models import Archived, Busy, Conversation, Duplicate, Message
from tutor.relay import relay

logger = logging.getLogger(__name__)

UNAUTHENTICATED, NOT_FOUND = frames.UNAUTHENTICATED, frames.NOT_FOUND  # close codes
CLOSED_ELSEWHERE = (
    "This conversation was closed in another tab (a new one started, or an old one reopened). "
    "Reload the page to continue."
)

# What a socket answers to a follow-up before its learner has asked anything.
NOTHING_YET = {
    "retry": turns.NOTHING_TO_RETRY,
    "regenerate": turns.NOT_REGENERABLE,
    "continue": turns.NOT_CONTINUABLE,
}


NOT_SAVED = (
    "Your question could not be saved: the database is busy. It is still in the box; send it "
    "again in a moment."
)


# Questions asked while others are being started wait, then start together (group commit).
starts = turn_starts.TurnStarts(
    db.run(impatient(turn_starts.start_together)),
    live=generation.live_writers,
    orphaned=generation.start,
)


class SameOrigin:
    """Let a socket in only from a page of this site: its Host must be in ALLOWED_HOSTS and its
    Origin the site's own scheme, host and port (as Django's CSRF check asks of a form post), or
    one of CSRF_TRUSTED_ORIGINS.

    Channels' AllowedHostsOriginValidator compared the Origin's host alone, so a page on another
    port of an allowed host got in.
    """

    def __init__(self, application) -> None:
        self.application = application

    async def __call__(self, scope, receive, send):
        if scope["type"] == "websocket" and not same_origin(scope):
            return await WebsocketDenier()(scope, receive, send)
        return await self.application(scope, receive, send)


def same_origin(scope: dict) -> bool:
    headers = {name: value.decode("latin1") for name, value in scope.get("headers", [])}
    origin, host = headers.get(b"origin"), headers.get(b"host")
    if not origin or not host or not validate_host(split_domain_port(host)[0], _allowed_hosts()):
        return False
    secure = scope.get("scheme") == "wss" or (
        settings.BEHIND_HTTPS_PROXY and headers.get(b"x-forwarded-proto") == "https"
    )
    own = f"{'https' if secure else 'http'}://{host}"
    return origin == own or origin in settings.CSRF_TRUSTED_ORIGINS


def _allowed_hosts() -> list[str]:
    if settings.DEBUG and not settings.ALLOWED_HOSTS:  # as Django's own host check
        return [".localhost", "127.0.0.1", "[::1]"]
    return settings.ALLOWED_HOSTS


class TutorConsumer(AsyncWebsocketConsumer):
    """Glue between one browser socket and the conversation it shows.

    Group events carry the HTML the writer rendered: forwarding them touches no database.
    """

    following: int | None = None  # the streaming reply this socket is showing
    sent_upto = 0  # how much of that reply's text this socket has sent
    heard_at = 0.0  # when that reply last gave a sign of life
    snapshot_asked_at: float | None = None  # when this socket last asked the writer for all so far
    conversation: Conversation | None = None
    waiting_group: str | None = None  # before the first question: where it will be announced
    ready = False  # connected to a lesson with a tutor, as a signed-in learner
    watchdog: asyncio.Task | None = None

    async def __call__(self, scope, receive, send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:  # closed or crashed: either way no more frames for it
            await relay().leave_all(self)

    async def dispatch(self, message: dict) -> None:
        # Channels closes old database connections before every handler, on the one thread all
        # sockets share: a delta would wait behind any query. This consumer's queries run on the
        # tutor's pool (tutor/db.py), which manages its connections around each call.
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    async def connect(self) -> None:
        await self.accept()  # then close with a 4xxx code: a refused handshake would retry forever
        self.lesson: Lesson | None = (await db.run(catalogue)()).get(
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
        self.user = user
        opened = await self._open_conversation()
        if opened.conversation is None:
            # No conversation until the first question (from this tab or another of the
            # learner's): the tab that asks it tells the others which one it started.
            self.waiting_group = Conversation.starting_group_name(user.pk, self.lesson.slug)
            await self._join(self.waiting_group)
            await self.send(text_data=fragments.actions(streaming=False))
        else:
            await self._open(opened)
        self.ready = True

    async def _open_conversation(self) -> watch.Opened:
        """Save the replies whose writer died as interrupted (every one, on this process's first
        socket), and read what the socket shows first."""
        live = generation.live_writers()
        await db.run(orphans.interrupt_orphans_once)(live)
        opened = await db.run(watch.open_conversation)(self.user, self.lesson.slug)
        if opened.streaming is not None and opened.streaming.is_stale(live):
            await db.run(opened.conversation.messages.interrupt_stale)(live)
            opened = await db.run(watch.open_conversation)(self.user, self.lesson.slug)
        return opened

    async def _open(self, opened: watch.Opened) -> None:
        self.conversation = opened.conversation
        await self._show(self.conversation)
        if opened.streaming is not None:
            self._follow(opened.streaming.pk, len(opened.streaming.text))
            await self.send(text_data=opened.html)
            await self._ask_for_snapshot()
        elif opened.html:
            # After a reconnect the page may still show a reply that ended, or died with the
            # server, while the socket was down: show it as it really is, without a reload.
            await self.send(text_data=opened.html)
        await self.send(text_data=fragments.actions(streaming=opened.streaming is not None))

    async def _join(self, group: str) -> None:
        """Join a group of the channel layer; once more if the layer fails (Redis just
        restarted: each pooled connection fails once before it reconnects)."""
        try:
            await self.channel_layer.group_add(group, self.channel_name)
        except Exception:
            logger.warning("joining %s failed; trying again", group, exc_info=True)
            await self.channel_layer.group_add(group, self.channel_name)

    async def _show(self, conversation: Conversation) -> None:
        """Receive the conversation's frames, through this process's relay (tutor/relay.py)."""
        try:
            await relay().join(conversation.group_name, self)
        except Exception:  # as in _join
            logger.warning("following %s failed; trying again", conversation.pk, exc_info=True)
            await relay().join(conversation.group_name, self)

    async def _ask_for_snapshot(self) -> None:
        self.snapshot_asked_at = time.monotonic()
        await generation.request_snapshot(self.conversation, self.channel_name)

    async def disconnect(self, code: int) -> None:
        # The reply being written goes on: it is saved and shown on the next visit.
        if self.watchdog is not None:
            self.watchdog.cancel()
        await relay().leave_all(self)
        if self.waiting_group is not None:
            await self.channel_layer.group_discard(self.waiting_group, self.channel_name)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if not self.ready:
            return
        try:
            frame = frames.parse(text_data, bytes_data)
        except frames.BadFrame as error:
            await self.send(text_data=fragments.notice(str(error)))
            return
        try:
            if frame.action == "send":
                await self._ask(frame.text.strip(), frame.client_id, frame.text)
            elif await self._signed_out(frame.text):
                return
            elif self.conversation is None:
                # Nothing asked yet: nothing to stop, retry or follow up.
                refusal = NOTHING_YET.get(frame.action)
                if refusal:
                    await self.send(text_data=fragments.notice(refusal))
            elif frame.action == "stop":
                await generation.stop(self.conversation, self.following)
            elif frame.action == "retry":
                await self._retry(frame.message_id)
            elif frame.action in turn_starts.FOLLOW_UPS:
                await self._follow_up(frame)
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
        if generation.draining:
            await self._refuse(
                "The tutor is restarting. Send your question again in a moment.", typed
            )
            return
        try:
            # Bounded in the queue too: behind a save that waits out a lock, a question would
            # wait as long. One whose batch never started is not saved; one whose did, finishes.
            turn = await asyncio.wait_for(
                starts.ask(
                    turn_starts.Question(
                        self.conversation,
                        self.lesson,
                        self.scope["session"],
                        question,
                        client_id,
                        self.user,
                    )
                ),
                settings.OUTAGE_SECONDS,
            )
        except turns.SignedOut:
            await self._logged_out(typed)
        except allowance.Refused as refused:
            await self._refuse(refused.message, typed)
        except Duplicate:
            return  # a flaky connection re-sent a message that is already being answered
        except Busy:
            await self._refuse(turns.STILL_ANSWERING, typed)
        except Archived:
            await self._refuse(CLOSED_ELSEWHERE, typed)
        except (DatabaseError, TimeoutError):
            logger.warning("a tutor question could not be saved", exc_info=True)
            await self._refuse(NOT_SAVED, typed)
        else:
            try:
                if self.conversation is None:
                    await self._started_conversation(turn)
                await self._started(turn)
            except Exception:  # the layer (Redis restarting) failed: the question is saved
                await self._started_alone(turn)

    async def _started_alone(self, turn: turns.Turn) -> None:
        """The question is saved but the channel layer could not pass its turn on: this tab shows
        it and the reply is written all the same; other tabs catch up when they reconnect."""
        logger.warning("the channel layer failed to start a tutor turn", exc_info=True)
        if turn.reply.pk not in generation.running:
            generation.start(turn)
        self.conversation = self.conversation or turn.conversation
        if self.following != turn.reply.pk:
            await self.send(text_data=turn.html)
            self._follow(turn.reply.pk, 0)

    async def _started_conversation(self, turn: turns.Turn) -> None:
        """This tab's question started the conversation: follow it, and have the learner's
        other tabs of this lesson show the turn and follow it too."""
        self.conversation = turn.conversation
        await self._show(self.conversation)
        await self.channel_layer.group_send(
            self.waiting_group,
            {
                "type": "tutor.conversation_started",
                "sender": self.channel_name,
                "conversation_id": self.conversation.pk,
                "reply_id": turn.reply.pk,
                "html": turn.html,
            },
        )
        await self.channel_layer.group_discard(self.waiting_group, self.channel_name)
        self.waiting_group = None

    async def tutor_conversation_started(self, event: dict) -> None:
        if event["sender"] == self.channel_name or self.conversation is not None:
            return
        # Follow the turn (its start comes with this event), then join: its deltas come next.
        await self.tutor_started(event)
        await self._show(Conversation(pk=event["conversation_id"]))
        await self.channel_layer.group_discard(self.waiting_group, self.channel_name)
        self.waiting_group = None
        self.conversation = await db.run(Conversation.objects.get)(pk=event["conversation_id"])
        self.conversation.user = self.user  # the turn reads it; saves a query

    async def _retry(self, message_id: int | None) -> None:
        try:
            turn = await db.run(turns.retry)(
                self.conversation,
                self.lesson,
                message_id,
                await db.run(config.reply_model)(),
                live=generation.live_writers(),
            )
        except turns.NothingToRetry:
            await self.send(text_data=fragments.notice(turns.NOTHING_TO_RETRY))
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
        except Archived:
            await self.send(text_data=fragments.notice(CLOSED_ELSEWHERE))
        else:
            await self._started(turn)

    async def _follow_up(self, frame: frames.Frame) -> None:
        """Regenerate the latest reply, or continue one cut short (see turn_starts.FOLLOW_UPS)."""
        start = turn_starts.FOLLOW_UPS[frame.action]
        try:
            turn = await db.run(start)(
                self.conversation,
                self.lesson,
                self.scope["session"],
                frame.message_id,
                await db.run(config.reply_model)(),
                live=generation.live_writers(),
            )
        except turns.SignedOut:
            await self._logged_out("")
        except turns.Declined as declined:
            await self.send(text_data=fragments.notice(declined.message))
        except Archived:
            await self.send(text_data=fragments.notice(CLOSED_ELSEWHERE))
        else:
            await self._started(turn)

    async def _started(self, turn: turns.Turn) -> None:
        generation.start(turn)
        await relay().publish(
            self.conversation.group_name,
            {"type": "tutor.started", "reply_id": turn.reply.pk, "html": turn.html},
        )

    async def _signed_out(self, typed: str) -> bool:
        """A tab whose session ended elsewhere (logged out in another tab) stops asking."""
        session = self.scope["session"]
        if await db.run(session.exists)(session.session_key):
            return False
        await self._logged_out(typed)
        return True

    async def _logged_out(self, typed: str) -> None:
        # The question goes back in the box: it is not lost, and can be sent after logging in.
        await self._refuse("You were logged out. Log in again to ask the tutor.", typed)
        await self.close(code=UNAUTHENTICATED)

    async def _refuse(self, reason: str, typed: str) -> None:
        await self.send(text_data=fragments.notice(reason) + fragments.restore_input(typed))

    def _follow(self, reply_id: int, shown: int) -> None:
        self.following, self.sent_upto, self.heard_at = reply_id, shown, time.monotonic()
        if self.watchdog is None or self.watchdog.done():
            self.watchdog = asyncio.create_task(self._watch())

    async def _watch(self) -> None:
        """Notice a reply whose writer died in another process, and show it as interrupted."""
        while self.following is not None:
            await asyncio.sleep(settings.TUTOR_WATCH_SECONDS)
            reply_id = self.following
            quiet = time.monotonic() - self.heard_at
            if reply_id is None or reply_id in generation.running or quiet < 1.5:
                continue
            live = generation.live_writers()
            await db.run(Message.objects.filter(pk=reply_id).interrupt_stale)(live)
            html = await db.run(watch.ended_html)(reply_id)
            if html is not None and self.following == reply_id:
                self.following = None
                await self.send(text_data=html)

    # Group events: every socket showing this conversation gets them.

    async def tutor_started(self, event: dict) -> None:
        if event["reply_id"] == self.following:
            return  # shown already (it came with tutor.conversation_started)
        self._follow(event["reply_id"], 0)  # first: the writer's deltas may come during the send
        await self.send(text_data=event["html"])

    async def tutor_delta(self, event: dict) -> None:
        if event["message_id"] != self.following:
            return
        self.heard_at = time.monotonic()
        if event["end"] <= self.sent_upto:
            return
        if event["offset"] != self.sent_upto:
            # We missed text (joined mid-reply, or the layer dropped a frame): ask the writer
            # for everything so far; later deltas continue from there. A request or its answer
            # can be lost too (the layer restarting): ask again after a second.
            asked = self.snapshot_asked_at
            if asked is None or time.monotonic() - asked > 1:
                await self._ask_for_snapshot()
            return
        # Frames come from the writer as well as through this socket's own channel: the state
        # changes before the send, which can yield to another handler.
        self.sent_upto = event["end"]
        await self.send(text_data=event["html"])

    async def tutor_snapshot(self, event: dict) -> None:
        self.snapshot_asked_at = None
        if event["message_id"] == self.following and event["end"] > self.sent_upto:
            self.sent_upto, self.heard_at = event["end"], time.monotonic()
            await self.send(text_data=event["html"])

    async def tutor_finished(self, event: dict) -> None:
        if self.following == event["message_id"]:
            self.following = None
        await self.send(text_data=event["html"])
