"""Two daphne processes, one Redis channel layer, one database: a reply survives moving between them."""

from __future__ import annotations

import asyncio
import json
import re

import pytest
import websockets

from tests.fake_anthropic import Reply
from tests.site_process import daphne, learner_session, prepare, site_env
from tests.tutor_client import shown_text
from tutor.markup import FINAL


@pytest.fixture(scope="module")
def cluster(tmp_path_factory, fake_anthropic_server, redis_url):
    env = site_env(
        tmp_path_factory.mktemp("cluster"),
        REDIS_URL=redis_url,
        ANTHROPIC_API_KEY="sk-ant-scale",
        ANTHROPIC_BASE_URL=fake_anthropic_server.url,
    )
    prepare(env)
    cookie = learner_session(env, "scale")
    with daphne(env) as first, daphne(env) as second:
        yield [int(url.rsplit(":", 1)[1]) for url in (first, second)], cookie


def open_socket(port: int, cookie: str):
    return websockets.connect(
        f"ws://127.0.0.1:{port}/ws/tutor/messages-api/",
        origin=f"http://127.0.0.1:{port}",
        additional_headers={"Cookie": f"sessionid={cookie}"},
    )


async def frames_until(socket, pattern: str, timeout: float = 15) -> list[str]:
    frames = []
    while True:
        frame = await asyncio.wait_for(socket.recv(), timeout)
        frames.append(frame)
        if re.search(pattern, frame):
            return frames


@pytest.mark.asyncio
async def test_a_reply_started_on_one_process_continues_on_the_other(cluster, fake_anthropic):
    (first_port, second_port), cookie = cluster
    # Long enough (4 s) that the second socket joins mid-reply even on a loaded machine.
    fake_anthropic.enqueue(Reply(tokens=80, rate=20))
    async with open_socket(first_port, cookie) as first:
        await first.recv()
        await first.send(json.dumps({"message": "Survive a move", "client_id": "scale-client-1"}))
        await frames_until(first, "w0004")
    async with open_socket(second_port, cookie) as second:
        frames = await frames_until(second, FINAL)
    seen = shown_text(frames)
    assert "w0004" in seen and seen.rstrip().endswith("w0079")
    assert seen.count("w0010") == 1  # nothing repeated, nothing missing in between
    words = re.findall(r"w(\d{4})", seen)
    assert [int(w) for w in words] == list(range(1, 80))


@pytest.mark.asyncio
async def test_stop_on_one_process_stops_the_reply_written_by_the_other(cluster, fake_anthropic):
    (first_port, second_port), cookie = cluster
    fake_anthropic.enqueue(Reply(tokens=400, rate=20))
    async with open_socket(first_port, cookie) as first, open_socket(second_port, cookie) as second:
        await first.recv()
        await second.recv()
        await first.send(
            json.dumps({"message": "Stop me from elsewhere", "client_id": "scale-client-2"})
        )
        await frames_until(second, "w0002")  # the other process follows the reply live
        await second.send(json.dumps({"action": "stop"}))
        final = (await frames_until(first, FINAL))[-1]
        assert "You stopped this reply." in final
        assert "w0400" not in final
