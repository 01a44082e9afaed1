"""One tutor reply being written: call the model, relay its text, save it, obey Stop.

A generation belongs to no websocket. Closing the tab does not stop it; it finishes and is saved.
Every socket showing the conversation follows it through the channel layer. Each frame is
rendered once, here, and the group event carries its HTML with the frame's offset in the reply:
a socket forwards it without touching the database, and one that joins late (a reload, a
reconnect, another daphne process) asks for a snapshot and continues exactly where it is.

The channel layer may fail (Redis restarting): the text stays here, publishing resumes when the
layer is back, and the final save never waits for a publish to succeed.
"""

from __future__ import annotations

import asyncio
import logging
import time

from channels.layers import InMemoryChannelLayer, get_channel_layer
from django.conf import settings
from django.db import DatabaseError, transaction

from course import allowance, claude
from tutor import autosave, db, fragments, offline
from tutor.models import Message
from tutor.relay import relay
from tutor.streaming import ReplyStream
from tutor.turns import Turn

logger = logging.getLogger(__name__)

# Strong references: a task nobody holds can be garbage-collected mid-reply.
running: dict[int, Generation] = {}
draining = False  # the process is shutting down: no new replies (tutor/drain.py)


def live_writers() -> frozenset[int]:
    """The replies this process is writing: alive whatever the database says (the `live` that
    tutor/models.py's `Message` methods are given)."""
    return frozenset(running)


def coalesce_window() -> float:
    """Seconds a reply's deltas gather into one frame: TUTOR_COALESCE_MS, longer under load.

    Each frame costs the process the same whatever it carries. With many replies at once the
    window widens (a quarter of a millisecond per reply, up to TUTOR_COALESCE_MAX_MS), so a
    class asking together gets fewer, fuller frames instead of a process falling behind.
    """
    widened = settings.TUTOR_COALESCE_MS + 0.25 * len(running)
    return min(max(settings.TUTOR_COALESCE_MS, settings.TUTOR_COALESCE_MAX_MS), widened) / 1000


def start(turn: Turn) -> Generation:
    generation = Generation(turn)
    generation.task = asyncio.create_task(generation.run(), name=f"tutor-reply-{turn.reply.pk}")
    running[turn.reply.pk] = generation
    generation.task.add_done_callback(lambda _: running.pop(turn.reply.pk, None))
    return generation


class Generation:
    def __init__(self, turn: Turn) -> None:
        self.turn = turn
        self.reply_id = turn.reply.pk
        self.group = turn.conversation.group_name
        self.control_group = turn.conversation.control_group_name
        self.charge: allowance.Charge = turn.charge  # settled when the reply ends
        self.layer = get_channel_layer()
        self.text = ""  # everything received so far
        self.published = 0  # how much of it went to the group
        self.saved = 0  # how much of it the database holds (tutor/autosave.py)
        self.frames = ReplyStream(self.reply_id)  # renders what is published, once
        self.wake = asyncio.Event()
        self.closing = False  # helpers stop on this: a cancel can be swallowed inside a layer call
        self.stop_requested = False
        self.task: asyncio.Task | None = None
        self.call = claude.Call(model=turn.reply.model, max_tokens=turn.reply.max_tokens)

    async def run(self) -> None:
        self.control = await self.layer.new_channel()
        await self._quietly(self.layer.group_add(self.control_group, self.control))
        helpers = [asyncio.create_task(self._relay()), asyncio.create_task(self._listen())]
        if not isinstance(self.layer, InMemoryChannelLayer):
            helpers.append(asyncio.create_task(self._rejoin()))
        autosave.watch(self)
        produce = self.produce = asyncio.create_task(self._produce())
        status, error = Message.Status.COMPLETE, None
        try:
            await asyncio.wait({produce})
            if produce.cancelled():
                status = (
                    Message.Status.STOPPED if self.stop_requested else Message.Status.INTERRUPTED
                )
            elif isinstance(produce.exception(), claude.TutorError):
                status, error = Message.Status.FAILED, produce.exception()
            elif produce.exception() is not None:
                logger.error("tutor reply %s failed", self.reply_id, exc_info=produce.exception())
                status = Message.Status.FAILED
                error = claude.TutorError(
                    "error", "Something went wrong while writing this reply.", True
                )
        except asyncio.CancelledError:  # the server is shutting down
            produce.cancel()
            status = Message.Status.INTERRUPTED
            raise
        finally:
            self.closing = True
            self.wake.set()  # the relay sends what is left, then returns
            for helper in helpers[1:]:  # the relay ends by itself once it has sent the rest
                helper.cancel()
            await asyncio.wait(helpers, timeout=5)  # never let a stuck helper lose the reply
            await self._publish()
            try:
                html = await self._finish(status, error)
            finally:
                autosave.forget(self)  # saved, or given up: no more heartbeats either way
            if html:
                await self._broadcast(
                    self.group,
                    {"type": "tutor.finished", "message_id": self.reply_id, "html": html},
                )
            await self._quietly(self.layer.group_discard(self.control_group, self.control))

    async def _produce(self) -> None:
        if self.call.model != "offline":  # chosen with the charge: see turns._charge
            with self.charge.active():
                await claude.stream_reply(
                    model=self.call.model,
                    max_tokens=self.call.max_tokens,
                    system=self.turn.system,
                    messages=self.turn.messages,
                    on_text=self._on_text,
                    call=self.call,
                    diagnostics={"previous_message_id": self.turn.previous_message_id},
                )
        else:
            delay = settings.TUTOR_OFFLINE_DELAY_MS / 1000
            for piece in offline.chunks(offline.answer(self.turn.lesson, self.turn.asked)):
                await asyncio.sleep(delay)
                self._on_text(piece)
            self.call.stop_reason = "end_turn"

    def _on_text(self, text: str) -> None:
        if self.call.first_token_at is None:
            self.call.first_token_at = time.monotonic()
        self.text += text
        self.wake.set()

    async def _relay(self) -> None:
        """Send what arrived as one frame, then let the next window's deltas gather."""
        while True:
            await self.wake.wait()
            self.wake.clear()
            await self._publish()
            if self.closing:
                return
            await asyncio.sleep(coalesce_window())

    async def _publish(self) -> None:
        if self.published == len(self.text):
            return
        start, self.published = self.published, len(self.text)
        event = {
            "type": "tutor.delta",
            "message_id": self.reply_id,
            "offset": start,
            "end": self.published,
            "html": self.frames.feed(self.text[start : self.published]),
        }
        # A frame lost to a layer failure shows up as a gap; the socket then asks for a snapshot.
        await self._broadcast(self.group, event)

    async def _listen(self) -> None:
        """Obey Stop and answer snapshot requests, from any process, for as long as it runs."""
        failed = False
        while not self.closing:
            if failed:  # Redis may have restarted and forgotten the group: join it again at once,
                # so a Stop sent the moment it is back is not lost before _rejoin's next round
                await self._quietly(self.layer.group_add(self.control_group, self.control))
            try:
                event = await self.layer.receive(self.control)
            except Exception:
                logger.warning("tutor reply %s: channel layer failed; retrying", self.reply_id)
                failed = True
                await asyncio.sleep(0.5)
                continue
            failed = False
            # A Stop names the reply it is for when the page knew it: a late copy of it (see
            # stop()) must never stop the learner's next reply.
            if event.get("type") == "tutor.stop" and event.get("reply_id") in (None, self.reply_id):
                self.stop_requested = True
                self.produce.cancel()
            elif event.get("type") == "tutor.sync" and event.get("channel"):
                await self._quietly(self.layer.send(event["channel"], self.snapshot()))

    async def _rejoin(self) -> None:
        """Redis forgets its groups when it restarts: join the control group again now and then."""
        while not self.closing:
            await asyncio.sleep(settings.TUTOR_REJOIN_SECONDS)
            await self._quietly(self.layer.group_add(self.control_group, self.control))

    def snapshot(self) -> dict:
        text = self.text[: self.published]
        return {
            "type": "tutor.snapshot",
            "message_id": self.reply_id,
            "end": len(text),
            "html": ReplyStream(self.reply_id).snapshot(text),
        }

    async def _finish(self, status: str, error: claude.TutorError | None) -> str:
        """Save the reply and settle the charge, retrying until the database takes it."""
        call = self.call
        fields = {
            "text": self.text,
            "stop_reason": call.stop_reason,
            "ttft_ms": call.ttft_ms,
            "duration_ms": round((time.monotonic() - call.started) * 1000),
            "request_id": (error.request_id if error and error.request_id else call.request_id),
            "api_message_id": call.message_id,
            "diagnostics": call.diagnostics,
            **call.counts,
        }
        if error is not None:
            fields |= {
                "error_type": error.kind,
                "error_message": error.message,
                "retryable": error.retryable,
            }
        # A reply that failed before any text does not use up one of the day's questions.
        produced = bool(self.text) or status == Message.Status.COMPLETE
        delay = 0.5
        while True:
            try:
                return await finish_reply(
                    self.reply_id, status, fields, self.charge, call.usage, produced
                )
            except DatabaseError:
                logger.warning("tutor reply %s: saving failed; retrying", self.reply_id)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5)

    async def _broadcast(self, group: str, event: dict) -> None:
        await self._quietly(relay().publish(group, event))

    async def _quietly(self, operation) -> None:
        try:
            await operation
        except Exception:
            logger.warning("tutor reply %s: channel layer failed", self.reply_id, exc_info=True)


@db.run
def finish_reply(
    pk: int,
    status: str,
    fields: dict,
    charge: allowance.Charge,
    usage: dict[str, int],
    produced: bool,
) -> str:
    """Save how the reply ended and return its finished HTML, rendered once for every socket."""
    with transaction.atomic():
        charge.settle(usage, produced=produced)
        reply = Message.objects.select_related("feedback").filter(pk=pk).first()
        if reply is None:  # its conversation was deleted while it was being written
            return ""
        reply.finish(status, **fields)
    return fragments.finished(reply)


async def settle() -> None:
    """Wait for every reply this process is writing (the tests; shutdown drains: tutor/drain.py)."""
    tasks = [g.task for g in list(running.values()) if g.task]
    await asyncio.gather(*tasks, return_exceptions=True)


async def stop(conversation, reply_id: int | None = None) -> None:
    """Ask whichever process writes this conversation's reply (`reply_id`, when the page knows
    it) to stop it.

    Redis forgets its groups when it restarts, and a writer joins its control group again only
    every TUTOR_REJOIN_SECONDS: a Stop sent in that gap reaches no one. So a Stop that names its
    reply is sent again once the writer has surely joined again; only that reply obeys it.
    """
    layer = get_channel_layer()
    event = {"type": "tutor.stop", **({"reply_id": reply_id} if reply_id is not None else {})}
    await layer.group_send(conversation.control_group_name, event)
    if reply_id is not None and not isinstance(layer, InMemoryChannelLayer):
        task = asyncio.create_task(_stop_again(layer, conversation.control_group_name, event))
        _resent_stops.add(task)
        task.add_done_callback(_resent_stops.discard)


_resent_stops: set[asyncio.Task] = set()  # referenced until done, so none is collected early


async def _stop_again(layer, group: str, event: dict) -> None:
    for _ in range(2):
        await asyncio.sleep(settings.TUTOR_REJOIN_SECONDS)
        try:
            await layer.group_send(group, event)
        except Exception:  # the layer is down: the Stop sent first is all it can do
            logger.warning("tutor: could not send Stop again to %s", group, exc_info=True)
            return


async def request_snapshot(conversation, channel: str) -> None:
    layer = get_channel_layer()
    await layer.group_send(
        conversation.control_group_name, {"type": "tutor.sync", "channel": channel}
    )
