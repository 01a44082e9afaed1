"""A loopback fake of Anthropic's Messages API that speaks the real wire format.

It validates request bodies with the product's own rules (course/sandbox/validator.py) against
lessons/models.yaml, so the site and its tests share one copy of what the API refuses.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import dataclasses
import hashlib
import http.client
import json
import math
import re
import secrets
import signal
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from course.models_data import ModelData, parse_model_data
from course.sandbox import validator
from course.sandbox.simulator import prompt_blocks
from tests.fake_replies import example_of, json_schema, stop_at

MODELS_FILE = Path(__file__).resolve().parent.parent / "lessons" / "models.yaml"
TTL_SECONDS = {"5m": 300.0, "1h": 3600.0}
LOOKBACK = 20  # block boundaries a cache lookup checks, ending at each breakpoint
STREAM_ERROR_STATUS = {"overloaded_error": 529, "rate_limit_error": 429, "timeout_error": 504}
MARKER = re.compile(r"\[\[fake((?:\s+\w+=[^\s\]]+)*)\s*\]\]")
MESSAGES, COUNT_TOKENS = "/v1/messages", "/v1/messages/count_tokens"
MODELS = "/v1/models"


def tokens(text: str) -> int:
    """The fake tokenizer: tokens(text) = max(1, ceil(len(text) / 4))."""
    return max(1, math.ceil(len(text) / 4))


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
    diagnostics: dict | None = None  # the cache diagnosis, sent when the request asks for one


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


Behaviour = Reply | HttpError | StreamError | Drop | Stall


@dataclasses.dataclass(frozen=True)
class RecordedRequest:
    path: str
    headers: dict[str, str]  # lower-cased names
    body: dict[str, Any] | None  # the parsed JSON object, else None
    raw: bytes
    received_ns: int  # time.monotonic_ns() when the request head was read
    request_id: str = ""  # the request-id this fake answered with


class _Failure(Exception):
    def __init__(self, status: int, type_: str, message: str, headers: dict | None = None) -> None:
        super().__init__(message)
        self.status, self.type, self.message, self.headers = status, type_, message, headers or {}


def _invalid(message: str) -> _Failure:
    return _Failure(400, "invalid_request_error", message)


_model_data: list[ModelData] = []


def _course_models() -> ModelData:
    if not _model_data:
        _model_data.append(parse_model_data(MODELS_FILE.read_text(encoding="utf-8"), MODELS_FILE))
    return _model_data[0]


def _blocks(content: Any) -> list[Any]:
    """A string content counts as one text block."""
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    return list(content) if isinstance(content, list) else []


def _block_tokens(block: Any) -> int:
    if isinstance(block, dict) and isinstance(block.get("text"), str):
        return tokens(block["text"])
    return tokens(json.dumps(block, sort_keys=True))


def _last_user_text(body: dict[str, Any]) -> str:
    for message in reversed(body["messages"]):
        if isinstance(message, dict) and message.get("role") == "user":
            texts = [b.get("text") for b in _blocks(message.get("content")) if isinstance(b, dict)]
            return " ".join(t for t in texts if isinstance(t, str))
    return ""


class _Reader(asyncio.StreamReader):
    """A StreamReader that also tells when the client hung up, without reading anything."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(limit=2**16, loop=loop)
        self.hung_up = asyncio.Event()

    def feed_eof(self) -> None:
        super().feed_eof()
        self.hung_up.set()

    def set_exception(self, exc: BaseException) -> None:
        super().set_exception(exc)
        self.hung_up.set()


@dataclasses.dataclass
class _Exchange:
    """One request on one connection, and how to answer it."""

    reader: _Reader
    writer: asyncio.StreamWriter
    request_id: str
    received_ns: int
    keep_alive: bool

    async def send_json(self, status: int, body: Any, headers: dict | None = None) -> None:
        payload = json.dumps(body).encode()
        lines = [
            f"HTTP/1.1 {status} {http.client.responses.get(status, 'Error')}",
            f"request-id: {self.request_id}",
        ]
        lines += ["content-type: application/json", f"content-length: {len(payload)}"]
        lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
        lines += [] if self.keep_alive else ["connection: close"]
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + payload)
        await self.writer.drain()

    async def pause(self, seconds: float) -> None:
        """Sleep, but wake up early if the client hangs up."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.reader.hung_up.wait(), seconds)


class FakeAnthropic:
    """POST /v1/messages and /v1/messages/count_tokens on 127.0.0.1, served by a daemon thread.

    `cache_control_in_key=True` keys a cached prefix on its blocks exactly as sent, markers
    included, so moving a breakpoint to a newer message changes the key; False ignores markers.
    `clock` (seconds) drives cache expiry, so tests can fake the passing of time.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        tokens: int = 20,
        ttft: float = 0.0,
        rate: float = 0.0,
        min_cache_tokens: int = 512,
        cache_control_in_key: bool = True,
        clock: Callable[[], float] = time.monotonic,
        models: list[dict[str, Any]] | None = None,
    ) -> None:
        self.host, self.port, self.default_tokens = host, port, tokens
        self.models = models or []  # what GET /v1/models lists (ModelInfo objects)
        self.default: Behaviour = Reply(ttft=ttft, rate=rate)
        self.min_cache_tokens, self.cache_control_in_key = min_cache_tokens, cache_control_in_key
        self.clock = clock
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stop: Callable[[], None] | None = None
        self._connections: set[asyncio.Task[None]] = set()
        self.reset()

    def reset(self) -> None:
        """Forget the queue, the recorded requests, the stream timings, the cache, the aborts."""
        with self._lock:
            self._queue: collections.deque[Behaviour] = collections.deque()
            self._requests: list[RecordedRequest] = []
            self._timings: dict[str, list[int]] = {}
            self._arrivals: dict[str, int] = {}
            self._cache: dict[str, tuple[float, float]] = {}  # prefix key -> (ttl, expires at)
            self._aborted = 0

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

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

    def start(self) -> FakeAnthropic:
        ready, failure = threading.Event(), []
        self._thread = threading.Thread(
            target=self._run, args=(ready, failure), name="fake-anthropic", daemon=True
        )
        self._thread.start()
        ready.wait()
        if failure:
            self.stop()
            raise failure[0]
        return self

    def stop(self) -> None:
        """Close the listener and every connection (stalled ones too), then end the thread."""
        if self._stop is not None:
            self._stop()
        if self._thread is not None:
            self._thread.join()
        self._thread = self._stop = None

    def __enter__(self) -> FakeAnthropic:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- the event loop thread --------------------------------------------------------------

    def _run(self, ready: threading.Event, failure: list[BaseException]) -> None:
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})  # main thread's
        loop = asyncio.new_event_loop()
        try:
            loop.run_until_complete(self._serve(loop, ready))
        except BaseException as exc:  # handed to start()
            failure.append(exc)
        finally:
            ready.set()
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    async def _serve(self, loop: asyncio.AbstractEventLoop, ready: threading.Event) -> None:
        stopping = asyncio.Event()
        server = await loop.create_server(
            lambda: asyncio.StreamReaderProtocol(_Reader(loop), self._connection, loop=loop),
            self.host,
            self.port,
            backlog=1024,
        )
        self.port = server.sockets[0].getsockname()[1]
        self._stop = lambda: loop.call_soon_threadsafe(stopping.set)
        ready.set()
        await stopping.wait()
        server.close()
        for task in list(self._connections):
            task.cancel()
        await asyncio.gather(*self._connections, return_exceptions=True)
        await server.wait_closed()

    async def _connection(self, reader: _Reader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            while await self._one_request(reader, writer):  # HTTP/1.1 keep-alive
                pass
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError, OSError):
            pass  # the client went away, or sent something that is not HTTP
        except asyncio.CancelledError:
            pass  # stop(); a cancelled connection task would make asyncio log an error
        finally:
            self._connections.discard(task)
            writer.transport.abort()

    async def _one_request(self, reader: _Reader, writer: asyncio.StreamWriter) -> bool:
        """Serve one request; return whether the connection may be reused."""
        head = await reader.readuntil(b"\r\n\r\n")  # IncompleteReadError ends the connection
        received_ns = time.monotonic_ns()
        request_line, *lines = head.decode("latin-1").split("\r\n")
        method, target = (request_line.split(" ") + [""])[:2]
        pairs = (line.partition(":") for line in lines if line)
        headers = {name.strip().lower(): value.strip() for name, _, value in pairs}
        raw = await reader.readexactly(int(headers.get("content-length") or 0))
        path = target.split("?")[0]
        keep_alive = headers.get("connection", "").lower() != "close"
        ex = _Exchange(reader, writer, "req_" + secrets.token_hex(12), received_ns, keep_alive)
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        body = body if isinstance(body, dict) else None
        recorded = RecordedRequest(path, headers, body, raw, received_ns, ex.request_id)
        with self._lock:
            self._requests.append(recorded)
        try:
            if method == "GET" and path.startswith(MODELS):
                await ex.send_json(200, self._models(path))
                return keep_alive
            if method != "POST" or path not in (MESSAGES, COUNT_TOKENS):
                raise _Failure(404, "not_found_error", f"Not found: {method} {path}")
            body = self._validate(headers, body, path)
            if path == COUNT_TOKENS:
                count = sum(_block_tokens(block) for _, block in prompt_blocks(body))
                await ex.send_json(200, {"input_tokens": count})
                return keep_alive
            with self._lock:
                behaviour = self._queue.popleft() if self._queue else self.default
            return await self._messages(ex, body, behaviour)
        except _Failure as fail:
            error = {"type": fail.type, "message": fail.message}
            body = {"type": "error", "error": error, "request_id": ex.request_id}
            await ex.send_json(fail.status, body, fail.headers)
            return keep_alive

    def _validate(self, headers: dict[str, str], body: Any, path: str) -> dict[str, Any]:
        bearer = headers.get("authorization", "")
        if not headers.get("x-api-key") and not (bearer[:7] == "Bearer " and bearer[7:].strip()):
            raise _Failure(401, "authentication_error", "x-api-key header is required")
        if not (version := headers.get("anthropic-version")):
            raise _invalid("anthropic-version: header is required")
        if headers.get("content-type", "").split(";")[0].strip().lower() != "application/json":
            raise _invalid("content-type: must be application/json")
        if body is None:
            raise _invalid("The request body is not valid JSON, or not a JSON object")
        checked = body if path == MESSAGES else {"max_tokens": 1, **body}  # count_tokens: none
        if error := validator.validate(checked, _course_models(), version):
            raise _Failure(error.status, error.type, error.message)
        return body

    def _models(self, path: str) -> dict[str, Any]:
        """GET /v1/models (one page holding every model) or GET /v1/models/{id}."""
        if path.rstrip("/") == MODELS:
            ids = [model["id"] for model in self.models]
            page = {"data": self.models, "has_more": False}
            return page | {"first_id": ids[0] if ids else None, "last_id": ids[-1] if ids else None}
        wanted = path.removeprefix(MODELS + "/")
        found = next((model for model in self.models if model["id"] == wanted), None)
        if found is None:
            raise _Failure(404, "not_found_error", f"model: {wanted}")
        return found

    def _usage(self, body: dict[str, Any]) -> dict[str, Any]:
        """Usage with the prompt cache simulated: read the longest live prefix, write new ones.

        A block with cache_control is a breakpoint (a top-level cache_control marks the last
        block). A prefix is keyed on the model and every (role, block) up to it, byte-exact as
        sent (chained sha256 of canonical JSON), and is cacheable at >= min_cache_tokens. Lookups
        check the LOOKBACK boundaries ending at each breakpoint; only breakpoints are written;
        a read refreshes the entry's TTL.
        """
        digest = hashlib.sha256(json.dumps(body["model"]).encode()).digest()
        total, bounds, items = (
            0,
            [],
            prompt_blocks(body),
        )  # bounds: (key, tokens, ttl if a breakpoint)
        for i, (role, block) in enumerate(items):
            total += _block_tokens(block)
            marker = block.get("cache_control") if isinstance(block, dict) else None
            if i == len(items) - 1 and marker is None:
                marker = body.get("cache_control")  # automatic caching
            if isinstance(block, dict) and not self.cache_control_in_key:
                block = {k: v for k, v in block.items() if k != "cache_control"}
            item = json.dumps([role, block], sort_keys=True).encode()
            digest = hashlib.sha256(digest + item).digest()
            ttl = marker.get("ttl", "5m") if isinstance(marker, dict) else None
            if ttl is not None and ttl not in TTL_SECONDS:
                raise _invalid("cache_control.ttl: Input should be '5m' or '1h'")
            bounds.append((digest.hex(), total, ttl))
        now, read, hit, created = self.clock(), 0, "", {"5m": 0, "1h": 0}
        with self._lock:
            live = {k for k, _, _ in bounds if k in self._cache and self._cache[k][1] > now}
            for end, (_, _, ttl) in enumerate(bounds):
                for key, size, _ in bounds[max(0, end - LOOKBACK + 1) : end + 1] if ttl else []:
                    if key in live and size > read:
                        read, hit = size, key
            if hit:
                self._cache[hit] = (self._cache[hit][0], now + self._cache[hit][0])
            previous = read
            for key, size, ttl in bounds:
                if ttl and size >= self.min_cache_tokens and size > read and key not in live:
                    self._cache[key] = (TTL_SECONDS[ttl], now + TTL_SECONDS[ttl])
                    created[ttl] += size - previous
                    previous = size
        creation = created["5m"] + created["1h"]
        return {
            "input_tokens": total - read - creation,
            "cache_creation_input_tokens": creation,
            "cache_read_input_tokens": read,
            "cache_creation": {
                "ephemeral_5m_input_tokens": created["5m"],
                "ephemeral_1h_input_tokens": created["1h"],
            },
            "output_tokens": 1,
            "service_tier": "standard",
        }

    def _plan(self, body: dict[str, Any], reply: Reply) -> tuple[Reply, list[str], str, str | None]:
        """Apply a [[fake ttft=… rate=… tokens=… id=…]] marker in the last user message; return
        the reply, its text chunks, its stop_reason and the marker's id."""
        question, overrides = _last_user_text(body), {}
        if match := MARKER.search(question):
            overrides = dict(pair.split("=", 1) for pair in match.group(1).split())
            question = MARKER.sub("", question).strip()
        types = {"ttft": float, "rate": float, "tokens": int}
        changes = {k: types[k](v) for k, v in overrides.items() if k in types}
        reply = dataclasses.replace(reply, **changes)
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
            return reply, chunks[: body["max_tokens"]], "max_tokens", overrides.get("id")
        stop = stop_at(chunks, body.get("stop_sequences"))
        if stop is not None:
            return reply, stop[0], f"stop_sequence:{stop[1]}", overrides.get("id")
        return reply, chunks, reply.stop_reason, overrides.get("id")

    async def _messages(self, ex: _Exchange, body: dict[str, Any], behaviour: Behaviour) -> bool:
        streaming = body.get("stream") is True
        if isinstance(behaviour, HttpError):
            headers = {}
            if behaviour.retry_after is not None:
                headers["retry-after"] = f"{behaviour.retry_after:g}"
            if behaviour.should_retry is not None:
                headers["x-should-retry"] = str(behaviour.should_retry).lower()
            raise _Failure(behaviour.status, behaviour.type, behaviour.message, headers)
        if isinstance(behaviour, Stall) or (isinstance(behaviour, Drop) and not streaming):
            await ex.pause(behaviour.seconds if isinstance(behaviour, Stall) else 0)
            return False
        if isinstance(behaviour, StreamError) and not streaming:
            status = STREAM_ERROR_STATUS.get(behaviour.type, 500)
            raise _Failure(status, behaviour.type, behaviour.message)
        reply = behaviour if isinstance(behaviour, Reply) else self.default
        reply, chunks, stop_reason, marker_id = self._plan(
            body, reply if isinstance(reply, Reply) else Reply()
        )
        stop_reason, _, sequence = stop_reason.partition(":")  # "stop_sequence:<the match>"
        message = {"id": "msg_" + secrets.token_hex(12), "type": "message", "role": "assistant"}
        message.update(content=[], model=body["model"], stop_reason=None, stop_sequence=None)
        message["usage"] = self._usage(body)
        if "diagnostics" in body:  # the API answers `diagnostics` only when asked
            message["diagnostics"] = reply.diagnostics
        details = None
        if stop_reason == "refusal":
            details = {"type": "refusal", "category": reply.refusal_category}
            details["explanation"] = "This request was refused due to policy."
        start = ex.received_ns / 1e9 + reply.ttft  # delta i is due at start + i / rate
        due = [start + (i / reply.rate if reply.rate else 0) for i in range(len(chunks))]
        if not streaming:
            await asyncio.sleep(max(due[-1:] + [0.0]) - time.monotonic())
            message.update(content=[{"type": "text", "text": "".join(chunks)}])
            if stop_reason == "pause_turn":  # paused mid server tool, as the real API pauses
                tool = {"type": "server_tool_use", "id": "srvtoolu_" + secrets.token_hex(12)}
                message["content"].append(tool | {"name": "web_search", "input": {"query": "x"}})
            message.update(stop_reason=stop_reason, stop_details=details)
            message.update(stop_sequence=sequence or None)
            message["usage"]["output_tokens"] = len(chunks)
            await ex.send_json(200, message)
            return ex.keep_alive
        key = marker_id or ex.request_id
        with self._lock:
            times = self._timings[key] = []
            self._arrivals[key] = ex.received_ns
        ex.writer.write(
            b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream; charset=utf-8\r\n"
            b"cache-control: no-cache\r\ntransfer-encoding: chunked\r\n"
            b"request-id: %s\r\n\r\n" % ex.request_id.encode()
        )

        async def send(data: dict[str, Any]) -> None:
            if ex.reader.hung_up.is_set() or ex.writer.is_closing():
                raise ConnectionResetError("the client hung up")
            event = f"event: {data['type']}\ndata: {json.dumps(data)}\n\n".encode()
            # one event = one HTTP chunk = one write + drain (TCP_NODELAY sends it at once)
            ex.writer.write(b"%x\r\n%s\r\n" % (len(event), event))
            await ex.writer.drain()

        try:
            await send({"type": "message_start", "message": message})
            block = {"type": "text", "text": ""}
            await send({"type": "content_block_start", "index": 0, "content_block": block})
            await send({"type": "ping"})
            for i, chunk in enumerate(chunks):
                if isinstance(behaviour, StreamError | Drop) and i == behaviour.after:
                    break
                if (delay := due[i] - time.monotonic()) > 0:  # a hang-up cuts the TTFT wait short
                    await (ex.pause(delay) if i == 0 else asyncio.sleep(delay))
                delta = {"type": "text_delta", "text": chunk}
                await send({"type": "content_block_delta", "index": 0, "delta": delta})
                times.append(time.monotonic_ns())
            if isinstance(behaviour, Drop):
                ex.writer.transport.abort()
                return False
            if isinstance(behaviour, StreamError):
                error = {"type": behaviour.type, "message": behaviour.message}
                await send({"type": "error", "error": error})
            else:
                await send({"type": "content_block_stop", "index": 0})
                end = {"stop_reason": stop_reason, "stop_sequence": sequence or None}
                end.update({"stop_details": details} if details else {})
                usage = {"output_tokens": len(chunks)}  # cumulative, as the API sends it
                await send({"type": "message_delta", "delta": end, "usage": usage})
                await send({"type": "message_stop"})
            ex.writer.write(b"0\r\n\r\n")
            await ex.writer.drain()
            return ex.keep_alive
        except OSError:  # the client hung up
            with self._lock:
                self._aborted += 1
            return False


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port (the default)")
    parser.add_argument("--ttft-ms", type=float, default=0.0, help="time to first token")
    parser.add_argument("--rate", type=float, default=0.0, help="deltas per second; 0 = no delay")
    parser.add_argument("--tokens", type=int, default=20, help="deltas per default reply")
    parser.add_argument("--min-cache-tokens", type=int, default=512)
    options = vars(parser.parse_args(argv))
    options["ttft"] = options.pop("ttft_ms") / 1000
    server = FakeAnthropic(**options)
    for signum in (signal.SIGINT, signal.SIGTERM):  # even when started with SIGINT ignored
        signal.signal(signum, signal.default_int_handler)
    with server:
        print(f"fake Anthropic API listening on {server.url}", flush=True)
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            print(f"stopping after {len(server.requests)} requests", flush=True)


if __name__ == "__main__":
    main()
