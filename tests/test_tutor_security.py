"""Bad frames, foreign origins, anonymous sockets and other learners' data."""

from __future__ import annotations

import json
import re

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client

from course.asgi import application
from tests.fake_anthropic import HttpError
from tests.lesson_files import lesson_text, write
from tests.tutor_client import HOST, ORIGIN, ask, connect, final_reply, learner, until
from tutor import markup
from tutor.models import Message

pytestmark = [
    pytest.mark.asyncio,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("tutor_cleanup"),
]


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        ({"bytes_data": b"\x00\x01binary"}, "only understands text messages"),
        ({"text_data": "   "}, "That message was empty."),
        ({"text_data": "{not json"}, "could not be read"),
        ({"text_data": "[1, 2, 3]"}, "could not be read"),
        ({"text_data": json.dumps({"message": ["a", "list"]})}, "could not be read"),
        ({"text_data": json.dumps({"message": "   "})}, "Type a question first."),
        ({"text_data": json.dumps({"action": "format-disk"})}, "does not know that action"),
        ({"text_data": json.dumps({"action": "retry", "message_id": "x"})}, "which reply to retry"),
        ({"text_data": json.dumps({"action": "regenerate"})}, "which reply to regenerate"),
        (
            {"text_data": json.dumps({"action": "continue", "message_id": 0})},
            "which reply to continue",
        ),
        ({"text_data": "x" * 70_000}, "too large to send"),
    ],
)
async def test_a_bad_frame_gets_a_clear_answer_and_the_socket_stays_open(online, frame, message):
    _, cookie = await learner()
    tutor = await connect(cookie)
    await tutor.send_to(**frame)
    notice = await tutor.receive_from(timeout=5)
    assert 'id="tutor-notice"' in notice and message in notice
    await ask(tutor, "Still there?")
    assert "Still there?" in "".join(await until(tutor, markup.FINAL))
    await tutor.disconnect()


async def test_an_oversized_question_is_refused_and_given_back(online, settings):
    settings.TUTOR_MAX_MESSAGE_CHARS = 50
    _, cookie = await learner()
    tutor = await connect(cookie)
    long_question = "Why " * 20
    await ask(tutor, long_question)
    frame = await tutor.receive_from(timeout=5)
    assert "Your question is 79 characters long; the tutor takes up to 50." in frame
    assert f">{long_question}</textarea>" in frame
    assert await sync_to_async(Message.objects.count)() == 0
    await tutor.disconnect()


@pytest.mark.parametrize(
    "origin",
    [
        (b"origin", b"https://evil.example"),
        (b"origin", b"http://localhost:8081"),  # another port of an allowed host
        (b"origin", b"https://localhost"),  # another scheme
        (b"origin", b"http://localhost.evil.example"),
        (b"origin", b"null"),
        None,
    ],
)
async def test_a_foreign_or_missing_origin_is_refused(origin):
    _, cookie = await learner()
    headers = [HOST, (b"cookie", f"sessionid={cookie}".encode())] + ([origin] if origin else [])
    communicator = WebsocketCommunicator(application, "/ws/tutor/messages-api/", headers=headers)
    connected, _ = await communicator.connect(timeout=5)
    assert connected is False


async def test_an_anonymous_socket_is_told_to_sign_in_and_closed():
    communicator = WebsocketCommunicator(
        application, "/ws/tutor/messages-api/", headers=[HOST, ORIGIN]
    )
    connected, _ = await communicator.connect(timeout=5)
    assert connected
    assert "Sign in to ask the tutor." in await communicator.receive_from(timeout=5)
    assert (await communicator.receive_output(timeout=5))["code"] == 4401


async def test_an_unknown_lesson_is_closed_with_4404():
    _, cookie = await learner()
    headers = [HOST, ORIGIN, (b"cookie", f"sessionid={cookie}".encode())]
    communicator = WebsocketCommunicator(application, "/ws/tutor/no-such-lesson/", headers=headers)
    assert (await communicator.connect(timeout=5))[0]
    assert "no tutor" in await communicator.receive_from(timeout=5)
    assert (await communicator.receive_output(timeout=5))["code"] == 4404


async def test_a_lesson_with_the_tutor_switched_off_refuses_the_socket(lessons_dir):
    text = lesson_text(**{"tutor:\n": "tutor:\n  enabled: false\n"})
    await sync_to_async(write)(lessons_dir / "01-tiny.md", text)
    _, cookie = await learner()
    headers = [HOST, ORIGIN, (b"cookie", f"sessionid={cookie}".encode())]
    communicator = WebsocketCommunicator(application, "/ws/tutor/tiny/", headers=headers)
    assert (await communicator.connect(timeout=5))[0]
    await communicator.receive_from(timeout=5)
    assert (await communicator.receive_output(timeout=5))["code"] == 4404


async def test_a_learner_never_reaches_another_learners_conversation(online):
    online.enqueue(HttpError(500, "api_error"))
    _, ada_cookie = await learner("ada")
    ada = await connect(ada_cookie)
    await ask(ada, "Ada's private question")
    failed = final_reply(await until(ada, markup.FINAL))
    failed_id = markup.first_message(failed)

    grace_user, grace_cookie = await learner("grace")
    grace = await connect(grace_cookie)
    await grace.send_to(text_data=json.dumps({"action": "retry", "message_id": failed_id}))
    assert "There is nothing to retry." in await grace.receive_from(timeout=5)
    await grace.send_to(text_data=json.dumps({"action": "stop"}))
    await ask(grace, "Grace's question")
    frames = await until(grace, markup.FINAL)
    assert "Ada" not in "".join(frames)
    assert await ada.receive_nothing(timeout=0.3)  # Ada's socket saw none of Grace's turn

    client = Client()
    await sync_to_async(client.force_login)(grace_user)
    response = await sync_to_async(client.get)(f"/tutor/replies/{failed_id}/api-call/")
    assert response.status_code == 404
    await ada.disconnect()
    await grace.disconnect()


async def test_the_api_key_never_reaches_the_browser(online):
    user, cookie = await learner()
    tutor = await connect(cookie)
    await ask(tutor, "Show me your key")
    frames = await until(tutor, markup.FINAL)
    reply_id = markup.first_message(final_reply(frames))
    client = Client()
    await sync_to_async(client.force_login)(user)
    panel = (
        await sync_to_async(client.get)(f"/tutor/replies/{reply_id}/api-call/")
    ).content.decode()
    page = (await sync_to_async(client.get)("/lessons/messages-api/")).content.decode()
    for seen in ["".join(frames), panel, page]:
        assert "sk-ant-test-key-never-shown" not in seen
    assert online.requests[0].headers["authorization"] == "Bearer sk-ant-test-key-never-shown"
    await tutor.disconnect()


async def test_the_burst_limit_refuses_with_a_reason_and_keeps_the_text(online, settings):
    settings.TUTOR_BURST_PER_MINUTE = 1
    _, cookie = await learner()
    tutor = await connect(cookie)
    await ask(tutor, "One")
    await until(tutor, markup.FINAL)
    await ask(tutor, "Two, carefully typed")
    frame = await tutor.receive_from(timeout=5)
    assert "to Claude in a minute" in frame and ">Two, carefully typed</textarea>" in frame
    assert re.search(r"Try again in \d+ s\.", frame)
    await tutor.disconnect()


async def test_the_daily_token_budget_refuses_with_a_reason(online, settings):
    settings.TUTOR_TOKENS_PER_DAY = 10
    _, cookie = await learner()
    tutor = await connect(cookie)
    await ask(tutor, "One")
    await until(tutor, markup.FINAL)
    await ask(tutor, "Two")
    assert "today&#x27;s Claude budget" in await tutor.receive_from(timeout=5)
    await tutor.disconnect()


async def test_a_trusted_origin_is_let_in(settings):
    settings.CSRF_TRUSTED_ORIGINS = ["https://course.example"]
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "course.example"]
    _, cookie = await learner()
    tutor = await connect(cookie, origin=(b"origin", b"https://course.example"))
    await tutor.disconnect()


async def test_a_host_the_site_does_not_serve_is_refused_even_from_its_own_origin():
    _, cookie = await learner()
    headers = [
        (b"host", b"evil.example"),
        (b"origin", b"http://evil.example"),
        (b"cookie", f"sessionid={cookie}".encode()),
    ]
    communicator = WebsocketCommunicator(application, "/ws/tutor/messages-api/", headers=headers)
    connected, _ = await communicator.connect(timeout=5)
    assert connected is False
