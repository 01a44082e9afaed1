"""The load generator: learners on real websockets, and the same streams through the bare SDK.

Every timestamp is time.monotonic_ns(), the clock the fake server stamps its delta writes with;
on Linux CLOCK_MONOTONIC is one system-wide clock, so times from the two processes subtract.
"""

from __future__ import annotations

import asyncio
import html
import json
import re
import secrets
import time
from dataclasses import dataclass, field

import anthropic
import httpx2
from websockets.asyncio.client import ClientConnection, connect

from bench.frames import ShownReply
from tutor import markup

# The site's frames: the streaming reply's Markdown blocks (tutor/streaming.py, read with
# bench.frames.ShownReply), notices (refusals, errors), and the finished reply, which replaces
# the whole article and carries its status in `markup.FINAL`.
NOTICE = re.compile(r'class="tutor-notice is-visible"[^>]*>(.*?)</div>', re.S)


def marker(ttft_ms: float, rate: float, tokens: int, key: str) -> str:
    return f"[[fake ttft={ttft_ms / 1000:g} rate={rate:g} tokens={tokens} id={key}]]"


def question(ttft_ms: float, rate: float, tokens: int, key: str) -> str:
    # No "wNNNN" words in the question: the fake echoes its first 60 characters in delta 0,
    # and the analysis finds delta indices by those words.
    return f"{marker(ttft_ms, rate, tokens, key)} Benchmark question {key}: explain stop_reason."


@dataclass
class Stream:
    """One reply as the client saw it."""

    key: str  # the marker id; the fake keys its timings by it
    send_ns: int = 0
    first_ns: int | None = None  # first text received
    end_ns: int | None = None  # final frame (site) or end of stream (SDK)
    pieces: list[tuple[int, str]] = field(default_factory=list)  # (receive ns, text)
    frames: int = 0
    snapshots: int = 0
    status: str = ""  # the final article's status (site) or stop_reason (SDK)
    error: str = ""

    def add(self, now: int, text: str) -> None:
        if text:
            self.pieces.append((now, text))
            if self.first_ns is None:
                self.first_ns = now

    @property
    def text(self) -> str:
        return "".join(text for _, text in self.pieces)


class Learner:
    """One browser tab: a signed-in socket on one lesson's tutor."""

    def __init__(
        self, name: str, cookie: str, url: str, origin: str, options: dict | None = None
    ) -> None:
        self.name, self.cookie, self.url, self.origin = name, cookie, url, origin
        self.options = options or {}  # through nginx: the TLS context and loopback address
        self.ws: ClientConnection | None = None
        self.handshake_ms: float | None = None
        self.error = ""

    async def connect(self, timeout: float) -> None:
        started = time.monotonic_ns()
        try:
            self.ws = await connect(
                self.url,
                origin=self.origin,  # the site refuses a foreign or missing Origin (CSWSH)
                additional_headers={"Cookie": f"sessionid={self.cookie}"},
                open_timeout=timeout,
                ping_interval=None,  # daphne pings the client; our pings would only add noise
                close_timeout=2,
                max_size=2**22,
                **self.options,
            )
            first = await asyncio.wait_for(self.ws.recv(), timeout)  # the buttons' state
            self.handshake_ms = (time.monotonic_ns() - started) / 1e6
            if notice := NOTICE.search(str(first)):
                self.error = f"refused on connect: {html.unescape(notice.group(1))}"
        except Exception as error:  # reported per learner, never raised: one failure is data
            self.error = f"connect: {type(error).__name__}: {error}"

    async def ask(self, stream: Stream, text: str, start: asyncio.Event, timeout: float) -> None:
        await start.wait()  # every learner of the round is released by one event: a barrier
        if self.ws is None:
            stream.error = self.error or "not connected"
            return
        try:
            async with asyncio.timeout(timeout):
                stream.send_ns = time.monotonic_ns()
                await self.ws.send(json.dumps({"message": text, "client_id": _client_id()}))
                await self._receive(stream)
        except TimeoutError:
            stream.error = f"timeout after {timeout:.0f} s ({len(stream.text)} chars received)"
        except Exception as error:
            stream.error = f"{type(error).__name__}: {error}"

    async def _receive(self, stream: Stream) -> None:
        assert self.ws is not None
        shown = ShownReply()
        while True:
            frame = str(await self.ws.recv())
            now = time.monotonic_ns()
            stream.frames += 1
            if notice := NOTICE.search(frame):
                stream.error = f"notice: {html.unescape(notice.group(1))}"
                return
            if status := markup.final_status(frame):
                stream.end_ns, stream.status = now, status
                return
            # A snapshot re-sends everything so far (the socket missed a delta): keep what is new.
            shown.feed(frame)
            stream.snapshots = shown.snapshots
            stream.add(now, shown.text[len(stream.text) :])

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()


def _client_id() -> str:
    return secrets.token_hex(8)  # a fresh id per question, as the browser sends


def sdk_client(base_url: str) -> anthropic.AsyncAnthropic:
    """Floor 1: the bare SDK against the same fake, with no retries to hide a failure."""
    return anthropic.AsyncAnthropic(
        api_key="bench-key",
        base_url=base_url,
        max_retries=0,
        timeout=httpx2.Timeout(60.0, connect=5.0),
    )


async def direct(
    client: anthropic.AsyncAnthropic,
    stream: Stream,
    text: str,
    start: asyncio.Event,
    timeout: float,
    model: str,
) -> None:
    """One streamed call through messages.stream(), as course/claude.py makes it."""
    await start.wait()
    try:
        async with asyncio.timeout(timeout):
            stream.send_ns = time.monotonic_ns()
            async with client.messages.stream(
                model=model, max_tokens=1024, messages=[{"role": "user", "content": text}]
            ) as events:
                async for event in events:
                    if event.type == "text":
                        stream.add(time.monotonic_ns(), event.text)
                    elif event.type == "message_delta":
                        stream.status = event.delta.stop_reason or ""
            stream.end_ns = time.monotonic_ns()
    except TimeoutError:
        stream.error = f"timeout after {timeout:.0f} s"
    except Exception as error:
        stream.error = f"{type(error).__name__}: {error}"


class LoopLag:
    """How late a 10 ms timer fires in this process: a saturated generator shows up here."""

    def __init__(self, period: float = 0.01) -> None:
        self.period, self.lags_ms = period, []
        self.task: asyncio.Task | None = None

    async def _tick(self) -> None:
        while True:
            before = time.monotonic()
            await asyncio.sleep(self.period)
            self.lags_ms.append((time.monotonic() - before - self.period) * 1000)

    def __enter__(self) -> LoopLag:
        self.task = asyncio.create_task(self._tick())
        return self

    def __exit__(self, *exc: object) -> None:
        if self.task is not None:
            self.task.cancel()
