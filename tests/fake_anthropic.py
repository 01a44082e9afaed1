"""The served simulator (course/sandbox/server.py) plus the controls tests need.

The wire format, the validation and the simulated prompt cache are the simulator's; this adds
scripted replies (`enqueue`, `default`), timings (ttft, rate, tokens, and the in-band
[[fake …]] marker), faults (HTTP errors, mid-stream errors, drops, stalls) and a record of every
request and of when each delta was written.
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import json
import re
import threading
import time
from collections.abc import Callable
from typing import Any

from course.model_catalogue import estimate_tokens
from course.sandbox import simulator
from course.sandbox.http1 import Exchange, serve_until_stopped
from course.sandbox.server import MessagesServer, Pace
from course.sandbox.validator import ApiError, error_body
from tests.fake_replies import example_of, json_schema, stop_at

STREAM_ERROR_STATUS = {"overloaded_error": 529, "rate_limit_error": 429, "timeout_error": 504}
MARKER = re.compile(r"\[\[fake((?:\s+\w+=[^\s\]]+)*)\s*\]\]")
# What the fake counts a text as (count_tokens, usage): the simulator's, the site's one estimate.
tokens = estimate_tokens


@dataclasses.dataclass(frozen=True)
class Reply:
    """A normal answer: `text` word by word, or else `tokens` deltas of the default text.

    The default text is "You asked about: <question>." then " w0001", " w0002", … so delta i
    carries word i. `ttft` counts from the request's arrival; `rate` is deltas/s (0 = no delay).
    """

    text: str | None = None
    tokens: int | None = None
    ttft: float = 0.0
    rate: float = 0.0
    stop_reason: str = "end_turn"
    refusal_category: str = "cyber"
    diagnostics: dict | None = None  # a scripted cache diagnosis, sent when the request asks


@dataclasses.dataclass(frozen=True)
class Simulated:
    """What the simulator itself answers (the reply `make simulator` gives)."""


@dataclasses.dataclass(frozen=True)
class HttpError:
    """An HTTP error with the documented body, plus retry-after / x-should-retry if given."""

    status: int
    type: str
    message: str = "Something went wrong (fake)."
    retry_after: float | None = None
    should_retry: bool | None = None


@dataclasses.dataclass(frozen=True)
class StreamError:
    """HTTP 200, then `event: error` after `after` text deltas, then the end of the response."""

    after: int = 2
    type: str = "overloaded_error"
    message: str = "Overloaded"


@dataclasses.dataclass(frozen=True)
class Drop:
    """Start the stream, then close the socket abruptly after `after` deltas."""

    after: int = 2


@dataclasses.dataclass(frozen=True)
class Stall:
    """Read the request and send nothing for `seconds` (or until the client or server quits)."""

    seconds: float = 30.0


Behaviour = Reply | Simulated | HttpError | StreamError | Drop | Stall


@dataclasses.dataclass(frozen=True)
class RecordedRequest:
    path: str
    headers: dict[str, str]  # lower-cased names
    body: dict[str, Any] | None  # the parsed JSON object, else None
    raw: bytes
    received_ns: int  # time.monotonic_ns() when the request head was read
    request_id: str = ""  # the request-id this fake answered with


def _last_user_text(body: dict[str, Any]) -> str:
    for message in reversed(body["messages"]):
        if isinstance(message, dict) and message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, str):
                return content
            texts = [b.get("text") for b in content or [] if isinstance(b, dict)]
            return " ".join(t for t in texts if isinstance(t, str))
    return ""


def _rechunked(events: list[dict[str, Any]], chunks: list[str]) -> list[dict[str, Any]]:
    """The simulator's events for a one-text-block message, with one text delta per chunk."""
    deltas = [i for i, event in enumerate(events) if event["event"] == "content_block_delta"]
    if not deltas:
        return events
    template = events[deltas[0]]
    paced = [
        template | {"data": template["data"] | {"delta": template["data"]["delta"] | {"text": c}}}
        for c in chunks
        if c
    ]
    rest = [event for event in events[deltas[0] :] if event["event"] != "content_block_delta"]
    return events[: deltas[0]] + paced + rest


class FakeAnthropic(MessagesServer):
    """The simulator on 127.0.0.1, answering with scripted behaviours (`Reply()` by default).

    `tokens`, `ttft` and `rate` shape the default reply; `models` is what GET /v1/models lists
    (ModelInfo objects, none unless given); `clock` (seconds) drives cache expiry.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        tokens: int = 20,
        ttft: float = 0.0,
        rate: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
        models: list[dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(host=host, port=port, clock=clock)
        self.default_tokens, self.models = tokens, models or []
        self.default: Behaviour = Reply(ttft=ttft, rate=rate)
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        """Forget the queue, the recorded requests, the stream timings, the cache, the aborts."""
        with self._lock:
            self._queue: collections.deque[Behaviour] = collections.deque()
            self._requests: list[RecordedRequest] = []
            self._timings: dict[str, list[int]] = {}
            self._arrivals: dict[str, int] = {}
            self._aborted = 0
            self.forget_cache()

    def enqueue(self, *behaviours: Behaviour) -> None:
        """Script the next requests to /v1/messages (FIFO); `self.default` answers the rest."""
        with self._lock:
            self._queue.extend(behaviours)

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    @property
    def stream_timings(self) -> dict[str, list[int]]:
        """monotonic_ns of each delta write, keyed by the marker's id=… or else the request-id."""
        with self._lock:
            return {key: list(times) for key, times in self._timings.items()}

    @property
    def stream_arrivals(self) -> dict[str, int]:
        """monotonic_ns at which each stream's request arrived (same keys as stream_timings)."""
        with self._lock:
            return dict(self._arrivals)

    @property
    def aborted_streams(self) -> int:
        """Streams whose client hung up before the last event was written."""
        with self._lock:
            return self._aborted

    def listed_models(self) -> list[dict[str, Any]]:
        return self.models

    async def handle(self, ex: Exchange) -> bool:
        recorded = RecordedRequest(
            ex.path, ex.headers, ex.body, ex.raw, ex.received_ns, ex.request_id
        )
        with self._lock:
            self._requests.append(recorded)
        return await super().handle(ex)

    async def answer(self, ex: Exchange, body: dict[str, Any]) -> bool:
        with self._lock:
            behaviour = self._queue.popleft() if self._queue else self.default
        streaming = body.get("stream") is True
        if isinstance(behaviour, Simulated):
            return await super().answer(ex, body)
        if isinstance(behaviour, HttpError):
            headers = {}
            if behaviour.retry_after is not None:
                headers["retry-after"] = f"{behaviour.retry_after:g}"
            if behaviour.should_retry is not None:
                headers["x-should-retry"] = str(behaviour.should_retry).lower()
            await ex.send_error(
                ApiError(behaviour.status, behaviour.type, behaviour.message, headers=headers)
            )
            return ex.keep_alive
        if isinstance(behaviour, Stall) or (isinstance(behaviour, Drop) and not streaming):
            await ex.pause(behaviour.seconds if isinstance(behaviour, Stall) else 0)
            return False
        if isinstance(behaviour, StreamError) and not streaming:
            status = STREAM_ERROR_STATUS.get(behaviour.type, 500)
            await ex.send_error(ApiError(status, behaviour.type, behaviour.message))
            return ex.keep_alive
        fallback = self.default if isinstance(self.default, Reply) else Reply()
        reply = behaviour if isinstance(behaviour, Reply) else fallback
        reply, chunks, marker_id = self._plan(body, reply)
        message, events = self._scripted(ex, body, reply, chunks)
        pace = Pace(reply.ttft, reply.rate)
        if not streaming:
            due = pace.due(ex.received_ns, len(chunks) - 1) if chunks else 0.0
            await ex.pause(due - time.monotonic())
            await ex.send_json(200, message)
            return ex.keep_alive
        key = marker_id or ex.request_id
        with self._lock:
            times = self._timings[key] = []
            self._arrivals[key] = ex.received_ns
        if isinstance(behaviour, StreamError | Drop):  # cut after `after` deltas at most
            kinds = [event["event"] for event in events]
            cut = [i for i, kind in enumerate(kinds) if kind == "content_block_delta"]
            cut = cut[behaviour.after : behaviour.after + 1]
            cut += [
                i for i, kind in enumerate(kinds) if kind in ("content_block_stop", "message_delta")
            ]
            events = events[: cut[0]]
        if isinstance(behaviour, StreamError):
            error = {"type": behaviour.type, "message": behaviour.message}
            events = [*events, {"event": "error", "data": error_body(error)}]
        try:
            await self.stream(
                ex, events, pace=pace, times=times, end=not isinstance(behaviour, Drop)
            )
        except OSError:  # the client hung up
            with self._lock:
                self._aborted += 1
            return False
        if isinstance(behaviour, Drop):
            ex.writer.transport.abort()
            return False
        return ex.keep_alive

    def _scripted(
        self, ex: Exchange, body: dict[str, Any], reply: Reply, chunks: list[str]
    ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """The simulator's message (shape, usage, cache) carrying the scripted text instead."""
        stop_reason, _, sequence = reply.stop_reason.partition(":")  # "stop_sequence:<match>"
        simulated = simulator.simulate(body, self.model_data, self.store, ex.request_id).response
        details = None
        if stop_reason == "refusal":
            details = {"type": "refusal", "category": reply.refusal_category}
            details["explanation"] = "This request was refused due to policy."
        message = simulated | {
            "content": [{"type": "text", "text": "".join(chunks)}],
            "stop_reason": stop_reason,
            "stop_sequence": sequence or None,
            "stop_details": details,
            "usage": simulated["usage"] | {"output_tokens": len(chunks)},
        }
        if reply.diagnostics is not None and "diagnostics" in body:
            message["diagnostics"] = reply.diagnostics
        events = _rechunked(simulator.stream_events(message, message["usage"]), chunks)
        for event in events:
            if event["event"] == "message_delta" and details:
                event["data"]["delta"]["stop_details"] = details
        if stop_reason == "pause_turn":  # paused mid server tool, as the real API pauses
            tool = {"type": "server_tool_use", "id": simulator.new_id("srvtoolu_")}
            message["content"].append(tool | {"name": "web_search", "input": {"query": "x"}})
        return message, events

    def _plan(self, body: dict[str, Any], reply: Reply) -> tuple[Reply, list[str], str | None]:
        """Apply a [[fake ttft=… rate=… tokens=… id=…]] marker in the last user message; return
        the reply (its stop_reason "stop_sequence:<match>" when one cut it), its text chunks
        and the marker's id."""
        question, overrides = _last_user_text(body), {}
        if match := MARKER.search(question):
            overrides = dict(pair.split("=", 1) for pair in match.group(1).split())
            question = MARKER.sub("", question).strip()
        types = {"ttft": float, "rate": float, "tokens": int}
        reply = dataclasses.replace(
            reply, **{k: types[k](v) for k, v in overrides.items() if k in types}
        )
        schema = json_schema(body)
        if reply.text is None and schema is not None:  # structured outputs: valid JSON
            reply = dataclasses.replace(reply, text=json.dumps(example_of(schema)))
        if reply.text is not None:  # words with their whitespace, so "".join(chunks) == text
            chunks = re.findall(r"\s*\S+\s*$|\s*\S+|\s+", reply.text)
        else:
            count = self.default_tokens if reply.tokens is None else reply.tokens
            words = [f" w{i:04d}" for i in range(1, count)]
            chunks = [f"You asked about: {question[:60]}.", *words][:count]
        if len(chunks) > body["max_tokens"]:
            chunks = chunks[: body["max_tokens"]]
            reply = dataclasses.replace(reply, stop_reason="max_tokens")
        elif (stop := stop_at(chunks, body.get("stop_sequences"))) is not None:
            chunks = stop[0]
            reply = dataclasses.replace(reply, stop_reason=f"stop_sequence:{stop[1]}")
        return reply, chunks, overrides.get("id")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port (the default)")
    parser.add_argument("--ttft-ms", type=float, default=0.0, help="time to first token")
    parser.add_argument("--rate", type=float, default=0.0, help="deltas per second; 0 = no delay")
    parser.add_argument("--tokens", type=int, default=20, help="deltas per default reply")
    options = vars(parser.parse_args(argv))
    options["ttft"] = options.pop("ttft_ms") / 1000
    serve_until_stopped(FakeAnthropic(**options), "fake Anthropic API listening on {url}")


if __name__ == "__main__":
    main()
