"""Drive the tutor's websocket the way a browser does, for the consumer tests."""

from __future__ import annotations

import json
import re

from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client

from bench.frames import ShownReply
from course.asgi import application
from tests.users import make_user
from tutor import markup

ORIGIN = (b"origin", b"http://localhost")
HOST = (b"host", b"localhost")


@sync_to_async
def learner(username: str = "ada") -> tuple[object, str]:
    """A signed-in learner and their session cookie."""
    user = make_user(username)
    client = Client()
    client.force_login(user)
    return user, client.cookies["sessionid"].value


async def connect(
    cookie: str | None, slug: str = "messages-api", origin=ORIGIN
) -> WebsocketCommunicator:
    headers = [HOST] + ([origin] if origin else [])
    if cookie:
        headers.append((b"cookie", f"sessionid={cookie}".encode()))
    communicator = WebsocketCommunicator(application, f"/ws/tutor/{slug}/", headers=headers)
    connected, _ = await communicator.connect(timeout=5)
    assert connected
    await communicator.receive_from(timeout=5)  # the initial state of the buttons
    return communicator


async def ask(communicator: WebsocketCommunicator, text: str, client_id: str = "", **extra) -> None:
    payload = {"message": text, "HEADERS": {"HX-Request": "true"}, **extra}
    if client_id:
        payload["client_id"] = client_id
    await communicator.send_to(text_data=json.dumps(payload))


async def until(
    communicator: WebsocketCommunicator, pattern: str, timeout: float = 10
) -> list[str]:
    """Receive frames until one matches `pattern`; return them all."""
    frames = []
    while True:
        frame = await communicator.receive_from(timeout=timeout)
        frames.append(frame)
        if re.search(pattern, frame):
            return frames


def final_reply(frames: list[str]) -> str:
    return next(f for f in reversed(frames) if markup.FINAL in f)


def shown_text(frames: list[str]) -> str:
    """The streaming reply's text as the browser shows it, whitespace collapsed."""
    shown = ShownReply()
    for frame in frames:
        if markup.FINAL in frame:
            break  # the finished reply replaces the stream
        shown.feed(frame)
    return shown.text
