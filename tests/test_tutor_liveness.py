"""A reply whose writer dies is noticed by the sockets showing it; a draining process says so."""

from __future__ import annotations

import asyncio
import re
from datetime import timedelta

import pytest
from asgiref.sync import sync_to_async
from django.utils import timezone

from tests.fake_anthropic import Reply
from tests.tutor_client import ask, connect, learner, until
from tests.waiting import eventually
from tutor import autosave, drain, generation
from tutor.models import Conversation, Message

pytestmark = [
    pytest.mark.asyncio,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("tutor_cleanup"),
]

FINAL = 'hx-swap-oob="outerHTML"'


@sync_to_async
def reply_written_elsewhere(user) -> Message:
    """A reply being written by another process: streaming, saved a moment ago."""
    conversation = Conversation.objects.current_for(user, "messages-api")
    question = conversation.messages.create(role="user", text="Still there?")
    return conversation.messages.create(
        role="assistant", reply_to=question, status="streaming", text="Half a rep", model="m"
    )


async def keep_saving(message: Message) -> None:
    """The other process's writer, alive: it saves the reply again and again."""
    while True:
        await sync_to_async(Message.objects.filter(pk=message.pk).update)(updated_at=timezone.now())
        await asyncio.sleep(0.1)  # how often it saves: part of what is simulated


@sync_to_async
def refresh(message: Message) -> Message:
    return Message.objects.get(pk=message.pk)


async def test_a_socket_shows_a_reply_as_interrupted_once_its_writer_stops_saving(settings):
    settings.TUTOR_STALE_SECONDS = 2  # the writer saves every 0.1 s: a busy machine stays under
    user, cookie = await learner()
    reply = await reply_written_elsewhere(user)
    writer = asyncio.create_task(keep_saving(reply))
    try:
        tutor = await connect(cookie)
        # The writer is alive (it keeps saving): the socket follows the reply.
        assert (await refresh(reply)).status == "streaming"
    finally:
        writer.cancel()
    # Then it dies: no more saves. The socket notices without a reconnect.
    frames = await until(tutor, "status-interrupted", timeout=6)
    assert '"action": "retry"' in frames[-1] and "Half a rep" in frames[-1]
    assert "The reply was interrupted." in frames[-1]  # said once to screen readers
    reply = await refresh(reply)
    assert (reply.status, reply.retryable, reply.text) == ("interrupted", True, "Half a rep")
    await tutor.disconnect()


async def test_an_interrupted_reply_can_be_retried_and_its_question_answered(online, settings):
    settings.TUTOR_STALE_SECONDS = 1
    user, cookie = await learner()
    reply = await reply_written_elsewhere(user)
    await sync_to_async(Message.objects.filter(pk=reply.pk).update)(
        updated_at=timezone.now() - timedelta(seconds=5)
    )
    tutor = await connect(cookie)  # connecting marks the dead writer's reply interrupted
    online.enqueue(Reply(text="Here it is in full."))
    await ask(tutor, "", action="retry", message_id=reply.pk)
    frames = await until(tutor, FINAL)
    assert f'id="msg-{reply.pk}" hx-swap-oob="delete"' in "".join(frames)
    assert "Here it is in full." in frames[-1]
    assert online.requests[-1].body["messages"][-1]["content"][0]["text"] == "Still there?"
    await tutor.disconnect()


async def test_progress_is_appended_and_saved_while_the_reply_streams(online, settings):
    settings.TUTOR_FLUSH_SECONDS = 0.05
    online.enqueue(Reply(tokens=40, rate=40))
    _, cookie = await learner()
    tutor = await connect(cookie)
    await ask(tutor, "Go on")
    await until(tutor, "w0010")

    async def saved_through_w0010() -> Message | None:
        row = await sync_to_async(Message.objects.filter(role="assistant").get)()
        return row if "w0010" in row.text else None

    # The saves happen on their own schedule: wait for one.
    row = await eventually(saved_through_w0010, "a save with the tenth word", timeout=5)
    assert "w0001 w0002" in row.text and row.status == "streaming"
    await until(tutor, FINAL)
    row = await sync_to_async(Message.objects.filter(role="assistant").get)()
    words = re.findall(r"w\d{4}", row.text)
    assert words == [f"w{i:04}" for i in range(1, 40)]  # appended, never twice
    assert not autosave.watched
    await tutor.disconnect()


async def test_a_draining_process_finishes_replies_and_refuses_new_questions(online, settings):
    settings.TUTOR_DRAIN_SECONDS = 0.5
    online.enqueue(Reply(tokens=400, rate=20))
    _, cookie = await learner()
    _, other_cookie = await learner("grace")
    tutor, other = await connect(cookie), await connect(other_cookie)
    await ask(tutor, "A long one")
    await until(tutor, "w0003")
    try:
        draining = asyncio.create_task(drain.drain())
        await eventually(lambda: generation.draining, "the process is draining")
        await ask(other, "Am I lost?")
        refused = await until(other, "restarting")
        assert "Am I lost?" in refused[-1]  # back in the box
        await draining
        frames = await until(tutor, FINAL)
    finally:
        generation.draining = False
    assert "status-interrupted" in frames[-1]
    rows = await sync_to_async(list)(Message.objects.values_list("role", "status", "text"))
    assert [(role, status) for role, status, _ in rows] == [
        ("user", "complete"),
        ("assistant", "interrupted"),
    ]
    assert "w0001 w0002 w0003" in rows[1][2]  # saved with the text it had
    await tutor.disconnect()
    await other.disconnect()


async def test_a_tab_left_on_a_closed_conversation_is_told_to_reload(online):
    user, cookie = await learner()
    online.enqueue(Reply(text="First answer."))
    stale_tab = await connect(cookie)
    await ask(stale_tab, "A first question")  # it starts the conversation
    await until(stale_tab, FINAL)
    # Another tab starts a new conversation: this tab's socket still shows the old one.
    await sync_to_async(Conversation.objects.start_new_within_limit)(user, "messages-api")
    await ask(stale_tab, "Where does this go?")
    frame = (await until(stale_tab, "closed in another tab"))[-1]
    assert "Reload the page" in frame and "Where does this go?" in frame  # kept in the box
    assert not await sync_to_async(Message.objects.filter(text="Where does this go?").exists)()
    assert len(online.requests) == 1
    await stale_tab.disconnect()


async def test_a_reply_whose_conversation_is_deleted_midway_ends_quietly(online, caplog):
    online.enqueue(Reply(tokens=60, rate=30))
    _, cookie = await learner()
    tutor = await connect(cookie)
    await ask(tutor, "Go on")
    await until(tutor, "w0003")
    await sync_to_async(Conversation.objects.all().delete)()  # a learner deleting their data
    await asyncio.wait_for(generation.settle(), 10)
    assert not generation.running and not autosave.watched
    assert "Traceback" not in caplog.text and "never retrieved" not in caplog.text
    await tutor.disconnect()
