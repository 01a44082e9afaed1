"""One tutor reply being written: call the model, relay its text, save it, obey Stop.

A generation belongs to no websocket. Closing the tab does not stop it; it finishes and is saved.
Every socket showing the conversation follows it through the channel layer: deltas go to the
conversation's group with their offset in the reply, so a socket that joins late (a reload, a
reconnect, another daphne process) asks for a snapshot and then continues exactly where it is.
"""

from __future__ import annotations

import asyncio
import logging
import time

from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings
from django.utils import timezone

from course import allowance, claude
from course.lessons import Lesson
from tutor import config, offline
from tutor.attempts import latest_attempt_text
from tutor.context import build_messages
from tutor.models import Conversation, Message, PromptVersion
from tutor.prompts import system_blocks, system_json

logger = logging.getLogger(__name__)

# Strong references: a task nobody holds can be garbage-collected mid-reply.
running: dict[int, Generation] = {}


def start(
    conversation: Conversation, reply: Message, lesson: Lesson, charge: allowance.Charge
) -> Generation:
    generation = Generation(conversation, reply, lesson, charge)
    generation.task = asyncio.create_task(generation.run(), name=f"tutor-reply-{reply.pk}")
    running[reply.pk] = generation
    generation.task.add_done_callback(lambda _: running.pop(reply.pk, None))
    return generation


class Generation:
    def __init__(
        self,
        conversation: Conversation,
        reply: Message,
        lesson: Lesson,
        charge: allowance.Charge,
    ) -> None:
        self.conversation = conversation
        self.charge = charge  # the learner's allowance, settled when the reply ends
        self.reply = reply
        self.lesson = lesson
        self.layer = get_channel_layer()
        self.text = ""  # everything received so far
        self.published = 0  # how much of it went to the group
        self.saved = ""
        self.wake = asyncio.Event()
        self.closing = False  # helpers stop on this: a cancel can be swallowed inside a layer call
        self.stop_requested = False
        self.task: asyncio.Task | None = None
        self.call = claude.Call(model=reply.model, max_tokens=settings.TUTOR_MAX_TOKENS)

    async def run(self) -> None:
        self.control = await self.layer.new_channel()
        await self.layer.group_add(self.conversation.control_group_name, self.control)
        helpers = [
            asyncio.create_task(self._relay()),
            asyncio.create_task(self._listen()),
            asyncio.create_task(self._flush_periodically()),
        ]
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
                logger.error("tutor reply %s failed", self.reply.pk, exc_info=produce.exception())
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
            await self._finish(status, error)
            await self.layer.group_discard(self.conversation.control_group_name, self.control)
            await self.layer.group_send(
                self.conversation.group_name,
                {"type": "tutor.finished", "message_id": self.reply.pk},
            )

    async def _produce(self) -> None:
        question = await self._prepare()
        if config.online():
            with self.charge.active():
                await claude.stream_reply(
                    model=self.call.model,
                    max_tokens=self.call.max_tokens,
                    system=self.system,
                    messages=self.messages,
                    on_text=self._on_text,
                    call=self.call,
                )
        else:
            delay = settings.TUTOR_OFFLINE_DELAY_MS / 1000
            for piece in offline.chunks(offline.answer(self.lesson, question)):
                await asyncio.sleep(delay)
                self._on_text(piece)
            self.call.stop_reason = "end_turn"

    @database_sync_to_async
    def _prepare(self) -> str:
        """Build the request from the database and note what will be sent."""
        history = self.conversation.history_before(self.reply)
        self.system = system_blocks(self.lesson)
        self.messages, first = build_messages(history, settings.TUTOR_CONTEXT_BUDGET_TOKENS)
        attempt = latest_attempt_text(self.conversation.user, self.lesson)
        if attempt and self.messages:
            # After the last cache breakpoint: the cached prefix stays the same for everyone.
            self.messages[-1]["content"].append({"type": "text", "text": attempt})
        prompt = PromptVersion.for_text(self.lesson.slug, system_json(self.system))
        Message.objects.filter(pk=self.reply.pk).update(
            prompt=prompt, first_context_id=first, max_tokens=self.call.max_tokens
        )
        return history[-1].text if history else ""

    def _on_text(self, text: str) -> None:
        if self.call.first_token_at is None:
            self.call.first_token_at = time.monotonic()
        self.text += text
        self.wake.set()

    async def _relay(self) -> None:
        """Send what arrived as one frame, then let the next window's deltas gather."""
        window = settings.TUTOR_COALESCE_MS / 1000
        while True:
            await self.wake.wait()
            self.wake.clear()
            await self._publish()
            if self.closing:
                return
            await asyncio.sleep(window)

    async def _publish(self) -> None:
        if self.published == len(self.text):
            return
        start, self.published = self.published, len(self.text)
        await self.layer.group_send(
            self.conversation.group_name,
            {
                "type": "tutor.delta",
                "message_id": self.reply.pk,
                "offset": start,
                "text": self.text[start : self.published],
            },
        )

    async def _listen(self) -> None:
        while not self.closing:
            event = await self.layer.receive(self.control)
            if event.get("type") == "tutor.stop":
                self.stop_requested = True
                self.produce.cancel()
            elif event.get("type") == "tutor.sync" and event.get("channel"):
                await self.layer.send(
                    event["channel"],
                    {
                        "type": "tutor.snapshot",
                        "message_id": self.reply.pk,
                        "text": self.text[: self.published],
                    },
                )

    async def _flush_periodically(self) -> None:
        while not self.closing:
            await asyncio.sleep(settings.TUTOR_FLUSH_SECONDS)
            text = self.text
            await self._save_progress(text if text != self.saved else None)
            self.saved = text

    @database_sync_to_async
    def _save_progress(self, text: str | None) -> None:
        # Also a heartbeat: a reply nobody saves for a while is marked interrupted.
        fields = {"updated_at": timezone.now()} | ({"text": text} if text is not None else {})
        Message.objects.filter(pk=self.reply.pk, status=Message.Status.STREAMING).update(**fields)

    async def _finish(self, status: str, error: claude.TutorError | None) -> None:
        call = self.call
        fields = {
            "text": self.text,
            "status": status,
            "stop_reason": call.stop_reason,
            "ttft_ms": call.ttft_ms,
            "duration_ms": round((time.monotonic() - call.started) * 1000),
            "request_id": (error.request_id if error and error.request_id else call.request_id),
            **call.usage,
        }
        if error is not None:
            fields |= {
                "error_type": error.kind,
                "error_message": error.message,
                "retryable": error.retryable,
            }
        # A reply that failed before any text does not use up one of the day's questions.
        produced = bool(self.text) or status == Message.Status.COMPLETE
        await _update(self.reply.pk, fields, self.charge, call.usage, produced)


@database_sync_to_async
def _update(
    pk: int, fields: dict, charge: allowance.Charge, usage: dict[str, int], produced: bool
) -> None:
    Message.objects.filter(pk=pk).update(updated_at=timezone.now(), **fields)
    charge.settle(usage, produced=produced)


async def settle() -> None:
    """Wait for every reply this process is writing (used at shutdown and by the tests)."""
    tasks = [g.task for g in list(running.values()) if g.task]
    await asyncio.gather(*tasks, return_exceptions=True)


async def stop(conversation: Conversation) -> None:
    """Ask whichever process writes this conversation's reply to stop it."""
    layer = get_channel_layer()
    await layer.group_send(conversation.control_group_name, {"type": "tutor.stop"})


async def request_snapshot(conversation: Conversation, channel: str) -> None:
    layer = get_channel_layer()
    await layer.group_send(
        conversation.control_group_name, {"type": "tutor.sync", "channel": channel}
    )
