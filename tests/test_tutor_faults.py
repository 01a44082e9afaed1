"""Faults that lose nothing (issue 11): real daphne processes, a real SQLite file, a real Redis.

Each test starts its own processes on a copy of one migrated database and ends them even when it
fails. Every wait is bounded; the bounds are what the learner would notice, not benchmarks.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
import websockets

from tests.fake_anthropic import MARKER
from tests.site_process import (
    free_port,
    kill_all,
    learner_sessions,
    prepare,
    saved_messages,
    site_env,
    start_daphnes,
    start_redis,
    stop_redis,
)
from tests.tutor_client import shown_text
from tutor import markup

WORD = re.compile(r"\bw(\d{4})\b")
LEARNERS = [
    "lock-long",
    "lock-short",
    "redis-restart",
    "redis-stop",
    "killed-writer",
    "drain-long",
    "drain-short",
    "drain-late",
]
LOCK_SECONDS = 8  # under the site's 20 s SQLite busy timeout
LOCKER = """
import sqlite3, sys, time
connection = sqlite3.connect(sys.argv[1], timeout=20, isolation_level=None)
connection.execute("BEGIN IMMEDIATE")  # SQLite's one write lock, as another process would take it
print("locked", flush=True)
time.sleep(float(sys.argv[2]))  # holding the lock this long is the fault under test
connection.execute("ROLLBACK")
print("released", flush=True)
"""


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    """A migrated database with every learner of this file signed in, copied by each test."""
    env = site_env(tmp_path_factory.mktemp("faults"))
    prepare(env)
    return env, learner_sessions(env, LEARNERS)


@pytest.fixture
def site(template, tmp_path, fake_anthropic):
    env, cookies = template
    source = env["DATABASE_URL"].removeprefix("sqlite:///")
    shutil.copy(source, tmp_path / "site.sqlite3")
    env = env | {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'site.sqlite3'}",
        "ANTHROPIC_API_KEY": "sk-ant-faults",
        "ANTHROPIC_BASE_URL": fake_anthropic.url,
    }
    return env, cookies


class OwnRedis:
    """A redis-server of the test's own, which it can stop and start again on the same port."""

    def __init__(self) -> None:
        self.port = free_port()
        self.process = start_redis(self.port)
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def restart(self, down: float) -> None:
        stop_redis(self.process)
        time.sleep(down)  # the outage under test: Redis stays down this long
        self.process = start_redis(self.port)


@pytest.fixture
def restartable_redis():
    if shutil.which("redis-server") is None:
        pytest.skip("needs redis-server (apt-get install redis-server)")
    redis = OwnRedis()
    try:
        yield redis
    finally:
        stop_redis(redis.process)


@contextlib.contextmanager
def daphnes_running(env: dict[str, str], count: int) -> Iterator[list[tuple]]:
    started = start_daphnes(env, count)
    try:
        yield started
    finally:
        kill_all(process for process, _ in started)


def expected_text(question: str, tokens: int) -> str:
    """The whole reply the fake writes for `question` (see tests/fake_anthropic.py)."""
    topic = MARKER.sub("", question).strip()[:60]
    return f"You asked about: {topic}." + "".join(f" w{i:04d}" for i in range(1, tokens))


def words(text: str) -> list[int]:
    return [int(w) for w in WORD.findall(text)]


def article_status(frame: str, message_id: int) -> str | None:
    """The status class of message `message_id`'s <article> in `frame`, if the frame has one."""
    for tag in re.findall(r"<article\b[^>]*>", frame):
        if re.search(rf'\bid="{markup.message_id(message_id)}"', tag):
            found = re.search(r'\bclass="[^"]*\bstatus-([\w-]+)', tag)
            return found.group(1) if found else ""
    return None


def interrupted_article(message_id: int) -> str:
    """A pattern for message `message_id`'s <article> shown interrupted, attributes in any order."""
    return rf'<article\b(?=[^>]*\bid="{markup.message_id(message_id)}")(?=[^>]*\bclass="[^"]*\bstatus-interrupted\b)'


def reply_id(frames: list[str]) -> int:
    return markup.streaming_reply("".join(frames))


def replies(env: dict[str, str], username: str) -> list[dict]:
    return [
        m
        for m in saved_messages(env)
        if m["role"] == "assistant" and m["conversation__user__username"] == username
    ]


class Tab:
    """One learner's page on the tutor socket.

    With `reconnect`, it does what htmx's ws extension does when the server closes the socket:
    connect again after a backoff (here to the next of `ports`, sticky-free) and start over from
    the snapshot the server sends.
    """

    def __init__(self, cookie: str, ports: list[int], reconnect: bool = False) -> None:
        self.cookie, self.ports, self.reconnect = cookie, ports, reconnect
        self.socket = None
        self.attempts = 0
        self.frames: list[str] = []  # since the last (re)connect
        self.log: list[tuple[float, str]] = []  # (monotonic time, frame), every frame
        self.closes: list[str] = []  # how the server closed the socket, each time

    async def open(self) -> None:
        port = self.ports[self.attempts % len(self.ports)]
        self.socket = await websockets.connect(
            f"ws://127.0.0.1:{port}/ws/tutor/messages-api/",
            origin=f"http://127.0.0.1:{port}",
            additional_headers={"Cookie": f"sessionid={self.cookie}"},
            open_timeout=5,
            max_queue=None,  # a test busy elsewhere must not push back on the server
        )
        self.frames = []

    async def ask(self, question: str, client_id: str) -> None:
        await self.send({"message": question, "client_id": client_id})

    async def send(self, frame: dict) -> None:
        await self.socket.send(json.dumps(frame))

    async def until(self, pattern: str, deadline: float) -> str:
        """The next frame matching `pattern`, received by `deadline` (time.monotonic())."""
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                if self.socket is None:
                    await self._reconnect(deadline)
                    continue
                frame = await asyncio.wait_for(self.socket.recv(), remaining)
            except TimeoutError:
                break
            except websockets.ConnectionClosed as closed:
                self.closes.append(str(closed.rcvd.code if closed.rcvd else "no close frame"))
                self.socket = None
                if not self.reconnect:
                    break
                continue
            self.frames.append(frame)
            self.log.append((time.monotonic(), frame))
            if re.search(pattern, frame):
                return frame
        raise AssertionError(
            f"no frame matching {pattern!r} in time; server closes: {self.closes}; "
            f"last frames: {[f[:300] for f in self.frames[-3:]]}"
        )

    async def _reconnect(self, deadline: float) -> None:
        delay = min(2.0, 0.25 * 2 ** len(self.closes))
        # The backoff a page waits before reconnecting is part of what it does, not a wait for
        # something to happen.
        await asyncio.sleep(min(delay, max(0, deadline - time.monotonic())))
        self.attempts += 1
        with contextlib.suppress(OSError, TimeoutError, websockets.InvalidStatus):
            await self.open()
            return
        self.closes.append("refused")


async def open_tabs(*tabs: Tab) -> None:
    for tab in tabs:
        await tab.open()
        await tab.until("", time.monotonic() + 10)  # the buttons' initial state


def longest_silence(log: list[tuple[float, str]], start: float, end: float, last: int) -> float:
    """The longest time in [start, end] without a frame bringing a new word, until word `last`."""
    marks, highest = [start], 0
    for at, frame in log:
        top = max(words(frame), default=0)
        if top <= highest:
            continue
        highest = top
        if at >= end:
            break
        if at > start:
            marks.append(at)
        if highest >= last:
            end = max(start, at)  # the whole reply arrived: nothing more to wait for
            break
    return max(b - a for a, b in zip(marks, [*marks[1:], end], strict=True))


async def settled_reply(env: dict[str, str], username: str, timeout: float = 20) -> dict:
    """The learner's last reply once it is no longer "streaming" (its save may wait on a fault)."""
    deadline = time.monotonic() + timeout
    while True:
        reply = (await asyncio.to_thread(replies, env, username))[-1]
        if reply["status"] != "streaming" or time.monotonic() > deadline:
            return reply  # at the deadline the caller reports the status it found
        await asyncio.sleep(0.5)  # how often to look: each look starts a process


def frames_with_new_words(log: list[tuple[float, str]], since: float) -> int:
    """How many frames of a streaming reply after `since` brought words not shown before."""
    highest, count = 0, 0
    for at, frame in log:
        top = max(words(frame), default=0) if markup.FINAL not in frame else 0
        count += at > since and top > highest
        highest = max(highest, top)
    return count


@pytest.mark.asyncio
async def test_a_sqlite_write_lock_held_elsewhere_leaves_both_learners_streaming(site):
    env, cookies = site
    long_q, short_q = (
        "Hold the lock [[fake tokens=200 rate=20]]",
        "Be quick [[fake tokens=80 rate=20]]",
    )
    with daphnes_running(env, 1) as [(_, port)]:
        long, short = Tab(cookies["lock-long"], [port]), Tab(cookies["lock-short"], [port])
        await open_tabs(long, short)
        await long.ask(long_q, "lock-long-1")
        await short.ask(short_q, "lock-short-1")
        await long.until("w0003", time.monotonic() + 15)
        await short.until("w0003", time.monotonic() + 15)
        with subprocess.Popen(
            [sys.executable, "-c", LOCKER, env["DATABASE_URL"].removeprefix("sqlite:///")]
            + [str(LOCK_SECONDS)],
            stdout=subprocess.PIPE,
            text=True,
        ) as locker:
            followed = [
                asyncio.create_task(tab.until(markup.FINAL, time.monotonic() + LOCK_SECONDS + 30))
                for tab in (long, short)
            ]
            try:
                held = [await asyncio.to_thread(locker.stdout.readline)]
                locked_at = time.monotonic()
                held.append(await asyncio.to_thread(locker.stdout.readline))
                released_at = time.monotonic()
                assert held == ["locked\n", "released\n"], "the other process never held the lock"
                await asyncio.gather(*followed)
            finally:
                kill_all([locker])
                for task in followed:
                    task.cancel()
        # The save that waited for the lock completes once it clears, with the whole text.
        saved = {name: await settled_reply(env, name) for name in ("lock-long", "lock-short")}
    problems = []
    for name, tab, last in (("long", long, 199), ("short", short, 79)):
        silence = longest_silence(tab.log, locked_at, released_at, last)
        if silence > 1.5:
            problems.append(f"the {name} reply froze {silence:.1f} s while the database was locked")
    if max(max(words(frame), default=0) for at, frame in short.log if at < released_at) < 79:
        problems.append("the short reply did not stream to its end during the lock")
    for name, question, tokens in (("lock-long", long_q, 200), ("lock-short", short_q, 80)):
        reply = saved[name]
        if reply["status"] != "complete" or reply["output_tokens"] == 0:
            problems.append(
                f"{name}'s reply saved {reply['status']!r}, {reply['output_tokens']} tokens"
            )
        if reply["text"] != expected_text(question, tokens):
            problems.append(f"{name}'s reply saved with text {reply['text'][-40:]!r}")
    assert not problems, "\n".join(problems)


@pytest.mark.asyncio
async def test_a_reply_outlives_a_redis_restart_and_is_saved_in_full(site, restartable_redis):
    env, cookies = site
    env |= {"REDIS_URL": restartable_redis.url}
    question = "Outlive Redis [[fake tokens=200 rate=20]]"
    with daphnes_running(env, 2) as [(_, first), (_, second)]:
        asker = Tab(cookies["redis-restart"], [first, second], reconnect=True)
        watcher = Tab(cookies["redis-restart"], [second, first], reconnect=True)
        await open_tabs(asker, watcher)
        await asker.ask(question, "redis-restart-1")
        await watcher.until("w0010", time.monotonic() + 15)
        message_id = reply_id(watcher.frames)
        await asyncio.to_thread(restartable_redis.restart, 1.0)
        restarted = time.monotonic()
        deadline = restarted + 30
        # Both pages are read at once, as two browser tabs would be: each reconnects on its own.
        finals = await asyncio.gather(
            *(tab.until(markup.FINAL, deadline) for tab in (asker, watcher))
        )
        for tab, final in zip((asker, watcher), finals, strict=True):
            # About 7 s of the reply were left: a page that follows it gets many frames of new
            # words, not only the whole text at the end.
            live = frames_with_new_words(tab.log, restarted)
            assert live >= 10, f"{live} frames of new words after the restart ({tab.closes})"
            assert article_status(final, message_id) == "complete", final[:300]
            assert words(final) == list(range(1, 200)), "the finished reply lost or repeated text"
            # Since its last (re)connect the page followed the reply live to its end: its snapshot,
            # then every later word once, in order, before the finished reply replaced it.
            shown = words(shown_text(tab.frames))
            assert shown == list(range(1, 200)), (
                f"after the restart a page showed words {shown[:3]}…{shown[-3:]} live before the "
                f"end (server closes: {tab.closes})"
            )
        saved = await settled_reply(env, "redis-restart")
    assert saved["status"] == "complete"
    assert saved["text"] == expected_text(question, 200)
    assert saved["output_tokens"] > 0  # the usage of a reply that ended survives too


@pytest.mark.asyncio
async def test_stop_from_the_other_process_works_after_a_redis_restart(site, restartable_redis):
    env, cookies = site
    env |= {"REDIS_URL": restartable_redis.url}
    cookie = cookies["redis-stop"]
    with daphnes_running(env, 2) as [(_, first), (_, second)]:
        asker, watcher = Tab(cookie, [first]), Tab(cookie, [second])
        await open_tabs(asker, watcher)
        await asker.ask("Stop me after a restart [[fake tokens=400 rate=20]]", "redis-stop-1")
        await watcher.until("w0010", time.monotonic() + 15)
        message_id = reply_id(watcher.frames)
        await asyncio.to_thread(restartable_redis.restart, 1.0)
        # The learner reloads the page on the other process, sees the reply go on, presses Stop.
        reloaded = Tab(cookie, [second], reconnect=True)
        await reloaded.open()
        snapshot = await reloaded.until(r"\bw\d{4}\b", time.monotonic() + 10)
        await reloaded.until(rf"\bw{max(words(snapshot)) + 2:04d}\b", time.monotonic() + 10)
        await reloaded.send({"action": "stop"})
        final = await reloaded.until(markup.FINAL, time.monotonic() + 10)
        saved = await settled_reply(env, "redis-stop")
    assert "You stopped this reply." in final
    assert article_status(final, message_id) == "stopped"
    assert saved["status"] == "stopped" and "w0399" not in saved["text"]


@pytest.mark.asyncio
async def test_killing_the_writing_process_shows_the_reply_interrupted_on_the_other(
    site, redis_url
):
    env, cookies = site
    env |= {"REDIS_URL": redis_url}
    cookie = cookies["killed-writer"]
    problems = []
    with daphnes_running(env, 2) as [(writer, first), (_, second)]:
        asker, watcher, other = Tab(cookie, [first]), Tab(cookie, [second]), Tab(cookie, [second])
        await open_tabs(asker, watcher, other)
        await asker.ask("Write at length [[fake tokens=400 rate=20]]", "killed-writer-1")
        await watcher.until("w0005", time.monotonic() + 15)
        message_id = reply_id(watcher.frames)
        writer.kill()
        killed = time.monotonic()
        await asyncio.to_thread(writer.wait)
        interrupted = asyncio.create_task(
            watcher.until(interrupted_article(message_id), killed + 6)
        )
        # A new question as soon as the page shows the reply interrupted, or 5.5 s after the kill.
        await asyncio.wait({interrupted}, timeout=max(0, killed + 5.5 - time.monotonic()))
        await other.ask("After the crash [[fake tokens=20 rate=20]]", "killed-writer-2")
        asked = time.monotonic() - killed
        try:
            answer = await other.until(
                "You asked about: After the crash|still answering", killed + 8
            )
        except AssertionError as error:
            answer = str(error)
        if "You asked about: After the crash" not in answer:
            problems.append(
                f"a question {asked:.1f} s after the kill was not accepted: {answer[:300]}"
            )
        try:
            frame = await interrupted
        except AssertionError as error:
            problems.append(
                f"within 6 s of the kill the watcher never showed it interrupted: {error}"
            )
        else:
            if '"action": "retry"' not in frame:
                problems.append(f"the interrupted reply offers no Retry: {frame[:500]}")
    assert not problems, "\n".join(problems)


async def until_draining(busy: Tab, deadline: float) -> None:
    """Ask on `busy`, whose reply is still streaming, until its process says it is restarting.

    Until the process handles SIGTERM it turns the question away as busy, after as restarting;
    neither saves it, so asking changes nothing the test checks.
    """
    for attempt in itertools.count(1):
        await busy.ask("Are you draining yet?", f"drain-probe-{attempt}")
        refusal = await busy.until("(?i)restarting|still answering", deadline)
        if "restarting" in refusal.lower():
            return


@pytest.mark.asyncio
async def test_sigterm_drains_replies_in_flight_and_turns_new_questions_away(site):
    env, cookies = site
    env |= {"TUTOR_DRAIN_SECONDS": "3"}
    long_q, short_q = (
        "Keep going [[fake tokens=400 rate=20]]",
        "Quick one [[fake tokens=30 rate=20]]",
    )
    late_q = "Asked while the site drains"
    problems = []
    with daphnes_running(env, 1) as [(process, port)]:
        long, short = Tab(cookies["drain-long"], [port]), Tab(cookies["drain-short"], [port])
        late = Tab(cookies["drain-late"], [port])
        await open_tabs(long, short, late)
        await long.ask(long_q, "drain-long-1")
        await long.until("w0010", time.monotonic() + 15)
        await short.ask(short_q, "drain-short-1")
        await short.until("w0002", time.monotonic() + 15)  # about 1.4 s left to write
        process.terminate()
        terminated = time.monotonic()
        try:
            await until_draining(long, terminated + 3)
            await late.ask(late_q, "drain-late-1")
            refusal = await late.until("(?i)restarting", terminated + 3)
        except (AssertionError, websockets.ConnectionClosed) as error:
            problems.append(f"a question during the drain got no notice: {error!r}"[:600])
        else:
            if late_q not in refusal:
                problems.append(f"the question was not put back in the box: {refusal[:500]}")
        try:
            await asyncio.to_thread(process.wait, 10 - (time.monotonic() - terminated))
        except subprocess.TimeoutExpired:
            problems.append("daphne did not exit within 10 s of SIGTERM")
    saved = saved_messages(env)
    by_user = {m["conversation__user__username"]: m for m in saved if m["role"] == "assistant"}
    streaming = [m["pk"] for m in saved if m["status"] == "streaming"]
    if streaming:
        problems.append(f"rows left streaming: {streaming}")
    if any(m["text"] == late_q for m in saved):
        problems.append("the question asked during the drain was saved")
    long_reply, short_reply = by_user["drain-long"], by_user["drain-short"]
    if long_reply["status"] != "interrupted" or "w0001" not in long_reply["text"]:
        problems.append(
            f"the long reply ended {long_reply['status']!r}: {long_reply['text'][:80]!r}"
        )
    if not expected_text(long_q, 400).startswith(long_reply["text"]):
        problems.append(f"the long reply's text is not what was written: {long_reply['text']!r}")
    if (short_reply["status"], short_reply["text"]) != ("complete", expected_text(short_q, 30)):
        problems.append(f"the short reply ended {short_reply['status']!r}: {short_reply['text']!r}")
    assert not problems, "\n".join(problems)
