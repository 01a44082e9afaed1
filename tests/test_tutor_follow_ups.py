"""Regenerate the latest reply, and Continue one cut short by its length limit."""

from __future__ import annotations

import json

import pytest
from asgiref.sync import sync_to_async

from course import allowance
from tests.fake_anthropic import HttpError, Reply
from tests.tutor_client import ask, connect, final_reply, learner, until
from tutor import markup
from tutor.models import Message
from tutor.turns import CONTINUE_TEXT

pytestmark = [
    pytest.mark.asyncio,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("tutor_cleanup"),
]


def reply_id(html: str) -> int:
    return markup.first_message(html)


async def ask_until_done(tutor, question: str) -> int:
    await ask(tutor, question)
    return reply_id(final_reply(await until(tutor, markup.FINAL)))


async def send(tutor, action: str, message_id: int) -> None:
    await tutor.send_to(text_data=json.dumps({"action": action, "message_id": message_id}))


def upstream(request) -> list[tuple[str, str]]:
    """What a request sent as the conversation: (role, text) per message."""
    turns = []
    for message in request.body["messages"]:
        content = message["content"]
        text = content if isinstance(content, str) else "".join(b["text"] for b in content)
        turns.append((message["role"], text))
    return turns


@sync_to_async
def row(pk: int) -> Message:
    return Message.objects.get(pk=pk)


@sync_to_async
def questions_left(user) -> int:
    return allowance.remaining(user).messages_left


async def test_regenerate_answers_again_in_the_old_replys_place(online):
    online.enqueue(
        Reply(text="First answer."),
        Reply(text="Second answer."),
        Reply(text="Another answer."),
        Reply(text="Third answer."),
    )
    user, cookie = await learner()
    tutor = await connect(cookie)
    await ask_until_done(tutor, "Q1")
    old_id = await ask_until_done(tutor, "Q2")
    left = await questions_left(user)
    await send(tutor, "regenerate", old_id)
    frames = await until(tutor, markup.FINAL)
    assert f'<div id="{markup.message_id(old_id)}" hx-swap-oob="delete">' in "".join(frames)
    assert "Another answer." in final_reply(frames)
    assert await questions_left(user) == left - 1  # it counts like any question
    # The same question again, without the reply it replaces.
    assert upstream(online.requests[-1]) == [
        ("user", "Q1"),
        ("assistant", "First answer."),
        ("user", "Q2"),
    ]
    old = await row(old_id)
    assert old.superseded and old.text == "Second answer."  # kept for the staff transcript
    # Later turns build on the new reply only.
    await ask_until_done(tutor, "Q3")
    assert upstream(online.requests[-1]) == [
        ("user", "Q1"),
        ("assistant", "First answer."),
        ("user", "Q2"),
        ("assistant", "Another answer."),
        ("user", "Q3"),
    ]
    await tutor.disconnect()


async def test_regenerating_an_older_reply_is_refused(online):
    online.enqueue(Reply(text="First answer."), Reply(text="Second answer."))
    user, cookie = await learner()
    tutor = await connect(cookie)
    first_id = await ask_until_done(tutor, "Q1")
    await ask_until_done(tutor, "Q2")
    left = await questions_left(user)
    await send(tutor, "regenerate", first_id)
    notice = await tutor.receive_from(timeout=5)
    assert "Only the latest finished reply can be regenerated." in notice
    assert len(online.requests) == 2 and await questions_left(user) == left
    assert not (await row(first_id)).superseded
    await tutor.disconnect()


async def test_regenerating_a_reply_still_being_written_is_refused(online):
    online.enqueue(Reply(tokens=400, rate=40))
    _, cookie = await learner()
    tutor = await connect(cookie)
    await ask(tutor, "Tell me everything")
    frames = await until(tutor, "w0002")
    started = next(f for f in frames if "status-streaming" in f)
    streaming_id = markup.streaming_reply(started)
    await send(tutor, "regenerate", streaming_id)
    await until(tutor, "The tutor is still writing that reply")
    assert len(online.requests) == 1 and not (await row(streaming_id)).superseded
    await tutor.disconnect()


async def test_regenerating_a_failed_reply_is_refused(online):
    online.enqueue(HttpError(400, "invalid_request_error"))
    _, cookie = await learner()
    tutor = await connect(cookie)
    failed_id = await ask_until_done(tutor, "Q1")
    assert (await row(failed_id)).status == "failed"
    await send(tutor, "regenerate", failed_id)
    assert "Only the latest finished reply can be regenerated." in await tutor.receive_from(5)
    assert len(online.requests) == 1
    await tutor.disconnect()


async def test_regenerating_over_the_daily_allowance_is_refused_and_keeps_the_reply(
    online, settings
):
    settings.TUTOR_MESSAGES_PER_DAY = 1
    online.enqueue(Reply(text="The only answer today."))
    _, cookie = await learner()
    tutor = await connect(cookie)
    done_id = await ask_until_done(tutor, "Q1")
    await send(tutor, "regenerate", done_id)
    notice = await tutor.receive_from(timeout=5)
    assert "You&#x27;ve used today&#x27;s 1 questions to Claude" in notice
    assert len(online.requests) == 1
    assert not (await row(done_id)).superseded
    await tutor.disconnect()


async def test_a_reply_cut_short_offers_continue_which_asks_for_the_rest(online):
    online.enqueue(Reply(text="Part one of", stop_reason="max_tokens"), Reply(text="part two."))
    user, cookie = await learner()
    tutor = await connect(cookie)
    await ask(tutor, "Explain everything")
    cut = final_reply(await until(tutor, markup.FINAL))
    cut_id = reply_id(cut)
    assert "Cut short" in cut and '"action": "continue"' in cut and ">Continue</button>" in cut
    left = await questions_left(user)
    await send(tutor, "continue", cut_id)
    frames = await until(tutor, markup.FINAL)
    assert CONTINUE_TEXT in "".join(frames)  # shown in the log as the learner's message
    assert "part two." in final_reply(frames)
    assert await questions_left(user) == left - 1
    # A new user turn, not a prefill: Claude 4.6+ refuses a conversation ending with the tutor.
    assert upstream(online.requests[-1]) == [
        ("user", "Explain everything"),
        ("assistant", "Part one of"),
        ("user", CONTINUE_TEXT),
    ]
    # The reply it continued is no longer the latest: a second Continue is refused.
    await send(tutor, "continue", cut_id)
    assert "can be continued" in await tutor.receive_from(timeout=5)
    assert len(online.requests) == 2
    await tutor.disconnect()


async def test_continue_on_a_reply_that_was_not_cut_short_is_refused(online):
    online.enqueue(Reply(text="A whole answer."))
    user, cookie = await learner()
    tutor = await connect(cookie)
    done_id = await ask_until_done(tutor, "Q1")
    left = await questions_left(user)
    await send(tutor, "continue", done_id)
    notice = await tutor.receive_from(timeout=5)
    assert "Only the latest reply, when it was cut short, can be continued." in notice
    assert len(online.requests) == 1 and await questions_left(user) == left
    await tutor.disconnect()


async def test_another_learners_reply_cannot_be_regenerated(online):
    online.enqueue(Reply(text="Ada's answer."))
    _, ada = await learner("ada")
    tutor = await connect(ada)
    ada_reply = await ask_until_done(tutor, "Q1")
    await tutor.disconnect()
    _, grace = await learner("grace")
    other = await connect(grace)
    await send(other, "regenerate", ada_reply)
    assert "Only the latest finished reply can be regenerated." in await other.receive_from(5)
    await send(other, "continue", ada_reply)
    assert "can be continued" in await other.receive_from(5)
    assert len(online.requests) == 1 and not (await row(ada_reply)).superseded
    await other.disconnect()
