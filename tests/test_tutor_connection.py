"""Connection state the learner can trust: resync after a reconnect, and logging out elsewhere."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.sessions.models import Session

from course.asgi import application
from tests.tutor_client import HOST, ORIGIN, ask, learner
from tutor import markup
from tutor.models import Conversation, Message

pytestmark = [
    pytest.mark.asyncio,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("tutor_cleanup"),
]


async def open_socket(cookie: str) -> WebsocketCommunicator:
    headers = [HOST, ORIGIN, (b"cookie", f"sessionid={cookie}".encode())]
    communicator = WebsocketCommunicator(application, "/ws/tutor/messages-api/", headers=headers)
    connected, _ = await communicator.connect(timeout=5)
    assert connected
    return communicator


@sync_to_async
def interrupted_reply(user) -> Message:
    conversation = Conversation.objects.current_for(user, "messages-api")
    question = conversation.messages.create(role="user", text="Tell me about streaming")
    return conversation.messages.create(
        role="assistant",
        reply_to=question,
        text="Streaming sends **events**",
        status=Message.Status.INTERRUPTED,
    )


async def test_a_socket_that_reconnects_shows_the_reply_as_it_really_ended(online):
    user, cookie = await learner()
    reply = await interrupted_reply(user)
    tutor = await open_socket(cookie)
    frame = await tutor.receive_from(timeout=5)
    # Marked so that the page applies it only over a reply it still shows as streaming.
    assert f'<article id="{markup.message_id(reply.pk)}"' in frame and "data-resync" in frame
    assert markup.final_status(frame) == "interrupted"
    assert 'hx-swap-oob="outerHTML"' in frame  # the swap itself: it replaces the whole article
    assert "This reply was interrupted" in frame and "<strong>events</strong>" in frame
    assert "Send" in await tutor.receive_from(timeout=5)  # then the buttons, as always
    await tutor.disconnect()


async def test_a_tab_logged_out_elsewhere_cannot_ask_and_keeps_its_question(online):
    _, cookie = await learner()
    tutor = await open_socket(cookie)
    await tutor.receive_from(timeout=5)
    await sync_to_async(Session.objects.filter(session_key=cookie).delete)()
    await ask(tutor, "Is anyone there?", client_id="client-after-logout")
    frame = await tutor.receive_from(timeout=5)
    assert "You were logged out. Log in again to ask the tutor." in frame
    assert ">Is anyone there?</textarea>" in frame  # nothing the learner wrote is lost
    assert (await tutor.receive_output(timeout=5))["code"] == 4401
    assert await sync_to_async(Message.objects.count)() == 0
    assert online.requests == []
