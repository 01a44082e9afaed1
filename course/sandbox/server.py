"""The sandbox's no-key simulator served as a Messages API endpoint on loopback (`make simulator`).

POST /v1/messages (JSON, or SSE when "stream" is true), POST /v1/messages/count_tokens and
GET /v1/models[/{id}]. Requests are checked by validator.validate and answered by
simulator.simulate, so the SDK or curl pointed at it (ANTHROPIC_BASE_URL=http://127.0.0.1:8790,
any key) get what the sandbox shows. tests/fake_anthropic.py adds the test-only controls.
Docs: https://platform.claude.com/docs/en/api/messages and
https://platform.claude.com/docs/en/build-with-claude/streaming
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import functools
import http.client
import json
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from course.models_data import ModelData, ModelInfo, parse_model_data
from course.sandbox import simulator, validator
from course.sandbox.validator import ApiError

MODELS_FILE = Path(__file__).resolve().parents[2] / "lessons" / "models.yaml"
DEFAULT_PORT = 8790
MESSAGES, COUNT_TOKENS, MODELS = "/v1/messages", "/v1/messages/count_tokens", "/v1/models"
SSE_HEAD = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream; charset=utf-8\r\n"
SSE_HEAD += b"cache-control: no-cache\r\ntransfer-encoding: chunked\r\n"
LIFECYCLE = {"deprecated": "deprecated", "retired": "retired"}  # current and legacy: active


class Refused(Exception):
    """Answer the request with this error instead."""

    def __init__(self, error: ApiError) -> None:
        super().__init__(error.message)
        self.error = error


def model_info(model: ModelInfo) -> dict[str, Any]:
    """A lessons/models.yaml entry as the Models API's ModelInfo object."""
    retires = f"{model.retires:%Y-%m-%d}T00:00:00Z" if model.retires else None
    return {
        "type": "model",
        "id": model.id,
        "display_name": model.name,
        "created_at": "1970-01-01T00:00:00Z",  # the release date is not in the file (epoch)
        "lifecycle": LIFECYCLE.get(model.status, "active"),
        "retires_at": retires,
        "max_input_tokens": model.context_window,
        "max_tokens": model.max_output,
    }


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
class Exchange:
    """One request on one connection, and the ways to answer it."""

    reader: _Reader
    writer: asyncio.StreamWriter
    method: str
    path: str
    headers: dict[str, str]  # lower-cased names
    raw: bytes
    received_ns: int  # time.monotonic_ns() when the request head was read
    request_id: str

    @property
    def keep_alive(self) -> bool:
        return self.headers.get("connection", "").lower() != "close"

    @functools.cached_property
    def body(self) -> dict[str, Any] | None:
        """The parsed JSON object, else None."""
        try:
            body = json.loads(self.raw)
        except ValueError:
            return None
        return body if isinstance(body, dict) else None

    async def send_json(
        self, status: int, body: Any, headers: dict[str, str] | None = None
    ) -> None:
        payload = json.dumps(body).encode()
        lines = [f"HTTP/1.1 {status} {http.client.responses.get(status, 'Error')}"]
        fields = {"request-id": self.request_id, **(headers or {})}
        fields |= {"content-type": "application/json", "content-length": str(len(payload))}
        lines += [f"{name}: {value}" for name, value in fields.items()]
        lines += [] if self.keep_alive else ["connection: close"]
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + payload)
        await self.writer.drain()

    async def send_error(self, error: ApiError) -> None:
        await self.send_json(error.status, error.body(self.request_id), error.headers)

    async def start_stream(self, headers: dict[str, str] | None = None) -> None:
        fields = {"request-id": self.request_id, **(headers or {})}
        lines = "".join(f"{name}: {value}\r\n" for name, value in fields.items())
        self.writer.write(SSE_HEAD + lines.encode() + b"\r\n")
        await self.writer.drain()

    async def send_event(self, event: dict[str, Any]) -> None:
        """One SSE event as one HTTP chunk (TCP_NODELAY sends it at once)."""
        if self.reader.hung_up.is_set() or self.writer.is_closing():
            raise ConnectionResetError("the client hung up")
        data = simulator.sse([event])
        self.writer.write(b"%x\r\n%s\r\n" % (len(data), data))
        await self.writer.drain()

    async def end_stream(self) -> None:
        self.writer.write(b"0\r\n\r\n")
        await self.writer.drain()

    async def pause(self, seconds: float) -> None:
        """Sleep, but wake up early if the client hangs up."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.reader.hung_up.wait(), seconds)


@dataclasses.dataclass(frozen=True)
class Pace:
    """When each content_block_delta is due: `ttft` s after the request arrived, then `rate`/s."""

    ttft: float = 0.0
    rate: float = 0.0  # 0: no delay between deltas

    def due(self, received_ns: int, index: int) -> float:
        """The time.monotonic() at which delta `index` is due."""
        return received_ns / 1e9 + self.ttft + (index / self.rate if self.rate else 0.0)


class MessagesServer:
    """The simulator on host:port, served by an asyncio loop in a daemon thread.

    `clock` (seconds) drives the simulated prompt cache's expiry, so tests can fake time.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        model_data: ModelData | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.host, self.port, self.clock = host, port, clock
        text = MODELS_FILE.read_text(encoding="utf-8")
        self.model_data = model_data or parse_model_data(text, MODELS_FILE)
        self.store = simulator.MemoryStore(clock=clock)
        self._thread: threading.Thread | None = None
        self._stop: Callable[[], None] | None = None
        self._connections: set[asyncio.Task[None]] = set()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def forget_cache(self) -> None:
        self.store = simulator.MemoryStore(clock=self.clock)

    def start(self) -> MessagesServer:
        ready, failure = threading.Event(), []
        self._thread = threading.Thread(
            target=self._run, args=(ready, failure), name=type(self).__name__, daemon=True
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

    def __enter__(self) -> MessagesServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- answering ----------------------------------------------------------------------------

    async def handle(self, ex: Exchange) -> bool:
        """Answer one request; return whether the connection may be reused."""
        try:
            if ex.method == "GET" and (ex.path == MODELS or ex.path.startswith(MODELS + "/")):
                self.check_headers(ex)
                await ex.send_json(200, self.models_response(ex.path))
                return ex.keep_alive
            if ex.method != "POST" or ex.path not in (MESSAGES, COUNT_TOKENS):
                raise Refused(ApiError(404, "not_found_error", f"Not found: {ex.method} {ex.path}"))
            body = self.check(ex)
            if ex.path == COUNT_TOKENS:
                await ex.send_json(200, {"input_tokens": self.count_tokens(body)})
                return ex.keep_alive
            return await self.answer(ex, body)
        except Refused as refused:
            await ex.send_error(refused.error)
            return ex.keep_alive

    def check_headers(self, ex: Exchange) -> str:
        """The API version the request names, once its key and version headers are there."""
        bearer = ex.headers.get("authorization", "")
        if not ex.headers.get("x-api-key") and not (bearer[:7] == "Bearer " and bearer[7:].strip()):
            raise Refused(ApiError(401, "authentication_error", "x-api-key header is required"))
        if not (version := ex.headers.get("anthropic-version")):
            raise Refused(validator.invalid("anthropic-version: header is required"))
        return version

    def check(self, ex: Exchange) -> dict[str, Any]:
        """The request body, if the API would accept it; else Refused with the API's error."""
        version = self.check_headers(ex)
        if ex.headers.get("content-type", "").split(";")[0].strip().lower() != "application/json":
            raise Refused(validator.invalid("content-type: must be application/json"))
        body = ex.body
        if body is None:
            raise Refused(
                validator.invalid("The request body is not valid JSON, or not a JSON object")
            )
        # count_tokens takes no max_tokens; the Messages rules need one.
        checked = body if ex.path == MESSAGES else {"max_tokens": 1, **body}
        if error := validator.validate(checked, self.model_data, version):
            raise Refused(error)
        return body

    def count_tokens(self, body: dict[str, Any]) -> int:
        """Every input token, cached or not: usage with an empty cache of its own."""
        usage = simulator.usage(body, self.model_data, simulator.MemoryStore())
        return usage["input_tokens"] + usage["cache_creation_input_tokens"]

    def models_response(self, path: str) -> dict[str, Any]:
        """GET /v1/models (one page holding every model) or GET /v1/models/{id}."""
        models = self.listed_models()
        if path.rstrip("/") == MODELS:
            ids = [model["id"] for model in models]
            page = {"data": models, "has_more": False}
            return page | {"first_id": ids[0] if ids else None, "last_id": ids[-1] if ids else None}
        wanted = path.removeprefix(MODELS + "/")
        found = next((model for model in models if model["id"] == wanted), None)
        if found is None:
            raise Refused(ApiError(404, "not_found_error", f"model: {wanted}"))
        return found

    def listed_models(self) -> list[dict[str, Any]]:
        return [model_info(model) for model in self.model_data.models]

    async def answer(self, ex: Exchange, body: dict[str, Any]) -> bool:
        """Answer a valid Messages request with the simulator."""
        outcome = simulator.simulate(body, self.model_data, self.store, ex.request_id)
        if outcome.status != 200 or not outcome.events:
            await ex.send_json(outcome.status, outcome.response, outcome.headers)
        else:
            await self.stream(ex, outcome.events, headers=outcome.headers)
        return ex.keep_alive

    async def stream(
        self,
        ex: Exchange,
        events: Iterable[dict[str, Any]],
        *,
        headers: dict[str, str] | None = None,
        pace: Pace = Pace(),
        times: list[int] | None = None,
        end: bool = True,
    ) -> None:
        """Write `events` as SSE, each content_block_delta when `pace` says (its write time
        appended to `times`); OSError if the client hangs up. `end=False` leaves it open."""
        await ex.start_stream(headers)
        deltas = 0
        for event in events:
            if event["event"] == "content_block_delta":
                if (delay := pace.due(ex.received_ns, deltas) - time.monotonic()) > 0:
                    # A hang-up cuts the wait for the first token short.
                    await (ex.pause(delay) if deltas == 0 else asyncio.sleep(delay))
                deltas += 1
            await ex.send_event(event)
            if times is not None and event["event"] == "content_block_delta":
                times.append(time.monotonic_ns())
        if end:
            await ex.end_stream()

    # -- the event loop thread ----------------------------------------------------------------

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
            while await self.handle(await self._read_request(reader, writer)):  # keep-alive
                pass
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError, OSError):
            pass  # the client went away, or sent something that is not HTTP
        except asyncio.CancelledError:
            pass  # stop(); a cancelled connection task would make asyncio log an error
        finally:
            self._connections.discard(task)
            writer.transport.abort()

    async def _read_request(self, reader: _Reader, writer: asyncio.StreamWriter) -> Exchange:
        head = await reader.readuntil(b"\r\n\r\n")  # IncompleteReadError ends the connection
        received_ns = time.monotonic_ns()
        request_line, *lines = head.decode("latin-1").split("\r\n")
        method, target = (request_line.split(" ") + [""])[:2]
        pairs = (line.partition(":") for line in lines if line)
        headers = {name.strip().lower(): value.strip() for name, _, value in pairs}
        if headers.get("expect", "").lower() == "100-continue":  # curl, for larger bodies
            writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        raw = await reader.readexactly(int(headers.get("content-length") or 0))
        path = target.split("?")[0]
        request_id = simulator.new_id("req_")
        return Exchange(reader, writer, method, path, headers, raw, received_ns, request_id)


def serve_until_stopped(server: MessagesServer, banner: str) -> None:
    """Run `server` in the foreground until SIGINT or SIGTERM; print `banner` with its {url}."""
    for signum in (signal.SIGINT, signal.SIGTERM):  # even when started with SIGINT ignored
        signal.signal(signum, signal.default_int_handler)
    with server:
        print(banner.format(url=server.url), flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()
        print("stopped", flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="0 picks a free port")
    options = parser.parse_args(argv)
    serve_until_stopped(
        MessagesServer(host=options.host, port=options.port),
        "The simulated Messages API is listening on {url}\n"
        "Point the SDK or curl at it: export ANTHROPIC_BASE_URL={url} ANTHROPIC_API_KEY=any\n"
        "Replies are simulated: the shape is the API's, the words are not a model's.",
    )


if __name__ == "__main__":
    main()
