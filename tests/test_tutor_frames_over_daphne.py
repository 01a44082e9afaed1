"""Oversized frames through the real server: daphne hands them to the tutor, which answers."""

from __future__ import annotations

import asyncio
import json

import pytest
import websockets

from tests.site_process import daphne, learner_session, prepare, site_env
from tutor.markup import FINAL


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    env = site_env(tmp_path_factory.mktemp("frames"))  # the offline tutor answers
    prepare(env)
    cookie = learner_session(env, "big")
    with daphne(env) as url:
        yield int(url.rsplit(":", 1)[1]), cookie


@pytest.mark.asyncio
async def test_a_frame_over_a_mebibyte_is_answered_in_band_and_the_socket_stays_open(site):
    port, cookie = site
    async with websockets.connect(
        f"ws://127.0.0.1:{port}/ws/tutor/messages-api/",
        origin=f"http://127.0.0.1:{port}",
        additional_headers={"Cookie": f"sessionid={cookie}"},
        max_size=None,
    ) as socket:
        await socket.recv()
        await socket.send(json.dumps({"message": "x" * (3 * 1024 * 1024 // 2)}))
        notice = await asyncio.wait_for(socket.recv(), 10)
        assert "too large to send: the tutor takes up to 64 KiB" in notice
        await socket.send(json.dumps({"message": "Still listening?", "client_id": "big-frame-1"}))
        frames = []
        while FINAL not in (frames[-1] if frames else ""):
            frames.append(await asyncio.wait_for(socket.recv(), 15))
        assert "Still listening?" in "".join(frames)
