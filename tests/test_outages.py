"""Outages answer, they do not hang: the sandbox and the tutor in real daphne processes, with
Redis down and with SQLite's write lock held by another process for longer than its busy timeout.

Each wait is bounded by what a learner would notice (RESPONSE_SECONDS), well under the lock.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import json
import re
import shutil
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from http.cookiejar import Cookie, CookieJar

import pytest
import websockets

from tests.fake_anthropic import Reply, Stall
from tests.site_process import (
    free_port,
    learner_sessions,
    prepare,
    saved_messages,
    site_env,
    start_daphne,
)

LESSON = "/lessons/messages-api/"
STREAM = "/lessons/messages-api/sandbox/stream/"
FORM = "/lessons/messages-api/sandbox/run/"
CODE = "/lessons/messages-api/sandbox/code/"
GOOD = {
    "model": "claude-haiku-5-5",
    "max_tokens": 64,
    "messages": [{"role": "user", "content": "Say hello"}],
}
RESPONSE_SECONDS = 10  # a learner waiting longer than this thinks the site hangs
LOCK_SECONDS = 30  # longer than SQLite's 20 s busy timeout
LOCKER = """
import sqlite3, sys, time
connection = sqlite3.connect(sys.argv[1], timeout=20, isolation_level=None)
connection.execute("BEGIN IMMEDIATE")  # SQLite's one write lock, as another process would take it
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
connection.execute("ROLLBACK")
"""


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    env = site_env(tmp_path_factory.mktemp("sandbox-faults"))
    prepare(env)
    return env, learner_sessions(
        env,
        [
            "redis-down",
            "lock-sim",
            "lock-live",
            "killed",
            "tutor-lock",
            "lock-form",
            "tutor-busy",
            "tutor-queued",
        ],
    )


@pytest.fixture
def site(template, tmp_path):
    env, cookies = template
    source = env["DATABASE_URL"].removeprefix("sqlite:///")
    shutil.copy(source, tmp_path / "site.sqlite3")
    return env | {"DATABASE_URL": f"sqlite:///{tmp_path / 'site.sqlite3'}"}, cookies


@contextlib.contextmanager
def daphne_running(env: dict[str, str]) -> Iterator[str]:
    process, url = start_daphne(env, free_port())
    try:
        yield url
    finally:
        process.kill()
        process.wait()


@contextlib.contextmanager
def database_locked(env: dict[str, str]) -> Iterator[None]:
    path = env["DATABASE_URL"].removeprefix("sqlite:///")
    locker = subprocess.Popen(
        [sys.executable, "-c", LOCKER, path, str(LOCK_SECONDS)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert locker.stdout.readline().strip() == "locked"
        yield
    finally:
        locker.kill()
        locker.wait()
        locker.stdout.close()


class Browser:
    """A learner's browser: the session cookie, and the CSRF cookie the lesson page sets."""

    def __init__(self, url: str, session: str) -> None:
        self.url, self.jar = url, CookieJar()
        self.jar.set_cookie(_cookie("sessionid", session))
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))
        with self.opener.open(url + LESSON, timeout=RESPONSE_SECONDS) as page:
            assert page.status == 200

    def run(self, body: dict) -> list[dict]:
        token = next(c.value for c in self.jar if c.name == "csrftoken")
        data = urllib.parse.urlencode({"body": json.dumps(body), "exercise": ""}).encode()
        request = urllib.request.Request(
            self.url + STREAM,
            data=data,
            headers={"X-CSRFToken": token, "Referer": self.url + LESSON},
        )
        with self.opener.open(request, timeout=RESPONSE_SECONDS) as response:
            assert response.status == 200
            return [json.loads(line) for line in response.read().decode().splitlines()]

    def post(self, path: str, fields: dict[str, str], htmx: bool = False) -> str:
        """A form post, as the page without JavaScript (or htmx) sends it; the page it gets."""
        token = next(c.value for c in self.jar if c.name == "csrftoken")
        headers = {"X-CSRFToken": token, "Referer": self.url + LESSON}
        if htmx:
            headers["HX-Request"] = "true"
        data = urllib.parse.urlencode(fields).encode()
        request = urllib.request.Request(self.url + path, data=data, headers=headers)
        with self.opener.open(request, timeout=RESPONSE_SECONDS) as response:
            assert response.status == 200
            return response.read().decode()


def _cookie(name: str, value: str) -> Cookie:
    return Cookie(
        0,
        name,
        value,
        None,
        False,
        "127.0.0.1",
        False,
        False,
        "/",
        True,
        False,
        None,
        False,
        None,
        None,
        {},
    )


def test_a_run_with_redis_down_gets_a_clear_error_not_a_hang(site) -> None:
    env, sessions = site
    nothing_there = f"redis://127.0.0.1:{free_port()}/0"
    with daphne_running(env | {"REDIS_URL": nothing_there}) as url:
        lines = Browser(url, sessions["redis-down"]).run(GOOD)
    result = lines[-1]
    assert result["kind"] == "result" and result["status"] == 503
    assert "Redis" in result["error"]["message"]
    assert "is not answering" in result["error"]["message"]
    assert "Your request is still here" in result["error"]["message"]


def test_a_simulated_run_under_a_long_database_lock_answers_and_says_it_was_not_saved(
    site,
) -> None:
    env, sessions = site
    with daphne_running(env) as url:
        browser = Browser(url, sessions["lock-sim"])
        with database_locked(env):
            lines = browser.run(GOOD)
    result = lines[-1]
    assert result["kind"] == "result" and result["status"] == 200
    assert result["response"]["content"][0]["text"]
    assert result["attempt_id"] is None
    assert "could not be saved" in result["notice"]


def test_a_live_run_under_a_long_database_lock_is_refused_before_anything_goes_upstream(
    site, fake_anthropic
) -> None:
    env, sessions = site
    live = env | {
        "ANTHROPIC_API_KEY": "sk-ant-faults",
        "ANTHROPIC_BASE_URL": fake_anthropic.url,
        "SANDBOX_MODE": "live",
    }
    with daphne_running(live) as url:
        browser = Browser(url, sessions["lock-live"])
        with database_locked(env):
            lines = browser.run(GOOD)
    result = lines[-1]
    assert result["kind"] == "result" and result["status"] == 503
    assert "database is busy" in result["error"]["message"]
    assert "Nothing was sent to Claude" in result["error"]["message"]
    assert fake_anthropic.requests == []


def test_a_learner_whose_run_died_with_its_process_can_run_again_within_seconds(
    site, fake_anthropic, redis_url
) -> None:
    env, sessions = site
    live = env | {
        "ANTHROPIC_API_KEY": "sk-ant-faults",
        "ANTHROPIC_BASE_URL": fake_anthropic.url,
        "SANDBOX_MODE": "live",
        "REDIS_URL": redis_url,  # the run lock lives here, shared by the site's processes
    }
    fake_anthropic.enqueue(Stall(60))
    with daphne_running(live) as url:
        browser = Browser(url, sessions["killed"])
        stalled = threading.Thread(target=_quietly, args=(browser.run, GOOD), daemon=True)
        stalled.start()
        _wait_for(lambda: len(fake_anthropic.requests) == 1, "the first run to reach Claude")
    # daphne_running killed the process (SIGKILL) mid-run: its lock was never released.
    stalled.join(timeout=RESPONSE_SECONDS)
    fake_anthropic.enqueue(Reply(text="Hello again."))
    with daphne_running(live) as url:
        browser = Browser(url, sessions["killed"])
        deadline = time.monotonic() + 15 + RESPONSE_SECONDS  # the lock outlives a run by 15 s
        while (result := browser.run(GOOD)[-1])["status"] == 409:
            assert time.monotonic() < deadline, "the dead run's lock never expired"
            time.sleep(0.5)
    assert result["status"] == 200
    assert result["response"]["content"][0]["text"] == "Hello again."


def test_the_sandbox_form_and_get_code_answer_under_a_long_database_lock(site) -> None:
    env, sessions = site
    body = json.dumps(GOOD)
    wrong = json.dumps({**GOOD, "max_tokens": 0})  # an exercise run that fails reveals a hint
    with daphne_running(env) as url:
        browser = Browser(url, sessions["lock-form"])
        with database_locked(env):
            ran = browser.post(FORM, {"body": body, "exercise": "", "action": "run"})
            graded = browser.post(FORM, {"body": wrong, "exercise": "first-request"})
            code = browser.post(FORM, {"body": body, "exercise": "", "action": "code"})
            snippet = browser.post(CODE, {"body": body}, htmx=True)
            hint = {"body": body, "exercise": "first-request", "action": "hint"}
            hinted = browser.post(FORM, hint)
    assert "could not be saved (the database is busy)" in ran
    assert "could not be saved (the database is busy)" in graded
    assert "invalid_request_error" in graded
    assert "The next hint could not be shown (the database is busy)" in hinted
    for page in (code, snippet):
        text = html.unescape(re.sub(r"<[^>]+>", "", page))
        assert "client.messages.create(" in text and "/v1/messages" in text


def _quietly(run, body) -> None:
    with contextlib.suppress(Exception):  # the connection dies with the process, as it should
        run(body)


def _wait_for(condition, what: str) -> None:
    deadline = time.monotonic() + RESPONSE_SECONDS
    while not condition():
        assert time.monotonic() < deadline, f"waited too long for {what}"
        time.sleep(0.05)


@pytest.mark.asyncio
async def test_a_tutor_question_under_a_long_database_lock_comes_back_to_the_box(site) -> None:
    env, sessions = site
    question = "What does max_tokens do?"
    with daphne_running(env) as url:
        port = url.rsplit(":", 1)[1]
        async with websockets.connect(
            f"ws://127.0.0.1:{port}/ws/tutor/messages-api/",
            origin=f"http://127.0.0.1:{port}",
            additional_headers={"Cookie": f"sessionid={sessions['tutor-lock']}"},
            open_timeout=RESPONSE_SECONDS,
        ) as socket:
            await socket.recv()  # the buttons' first state
            with database_locked(env):
                await socket.send(json.dumps({"message": question, "client_id": "locked-1"}))
                frame = await asyncio.wait_for(socket.recv(), RESPONSE_SECONDS)
    assert "could not be saved" in frame and "still in the box" in frame
    assert f">{question}</textarea>" in frame
    assert [m for m in saved_messages(env) if m["text"] == question] == []


@pytest.mark.asyncio
async def test_a_tutor_question_queued_behind_a_locked_save_comes_back_within_seconds(
    site, fake_anthropic
) -> None:
    env, sessions = site
    online = env | {"ANTHROPIC_API_KEY": "sk-ant-faults", "ANTHROPIC_BASE_URL": fake_anthropic.url}
    question = "What does max_tokens do?"
    with daphne_running(online) as url:
        port = url.rsplit(":", 1)[1]
        async with (
            tutor_socket(port, sessions["tutor-busy"]) as busy,
            tutor_socket(port, sessions["tutor-queued"]) as asker,
        ):
            await busy.send(json.dumps({"message": LONG_REPLY, "client_id": "busy-1"}))
            await frame_with(busy, "w0005")
            with database_locked(env):
                # The streaming reply's next save (every quarter second) now waits for the lock
                # on the tutor's one SQLite thread; a question's save would queue behind it.
                await frame_with(busy, "w0015")
                await asker.send(json.dumps({"message": question, "client_id": "queued-1"}))
                frame = await frame_with(asker, "tutor-notice")
    assert "could not be saved" in frame and "still in the box" in frame
    assert f">{question}</textarea>" in frame
    assert [m for m in saved_messages(env) if m["text"] == question] == []


LONG_REPLY = "Tell me everything [[fake tokens=600 rate=20]]"


@contextlib.asynccontextmanager
async def tutor_socket(port: str, session: str):
    async with websockets.connect(
        f"ws://127.0.0.1:{port}/ws/tutor/messages-api/",
        origin=f"http://127.0.0.1:{port}",
        additional_headers={"Cookie": f"sessionid={session}"},
        open_timeout=RESPONSE_SECONDS,
        max_queue=None,  # a test busy elsewhere must not push back on the server
    ) as socket:
        await socket.recv()  # the buttons' first state
        yield socket


async def frame_with(socket, text: str) -> str:
    """The next frame containing `text`, within what a learner would wait."""
    deadline = time.monotonic() + RESPONSE_SECONDS
    while (remaining := deadline - time.monotonic()) > 0:
        frame = await asyncio.wait_for(socket.recv(), remaining)
        if text in frame:
            return frame
    raise AssertionError(f"no frame with {text!r} within {RESPONSE_SECONDS} s")
