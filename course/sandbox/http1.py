"""A small HTTP/1.1 server for loopback use: an asyncio loop in a daemon thread, keep-alive,
JSON answers and chunked server-sent events, and word of a client that hangs up mid-answer.

Subclasses answer in `handle`; course/sandbox/server.py serves the simulator with it.
"""

from __future__ import annotations

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
from collections.abc import Callable
from typing import Any, Self

from course.sandbox import simulator
from course.sandbox.validator import ApiError

SSE_HEAD = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream; charset=utf-8\r\n"
SSE_HEAD += b"cache-control: no-cache\r\ntransfer-encoding: chunked\r\n"


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
    answered: bool = False  # whether a status line has been written

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
        self.answered = True
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + payload)
        await self.writer.drain()

    async def send_error(self, error: ApiError) -> None:
        await self.send_json(error.status, error.body(self.request_id), error.headers)

    async def start_stream(self, headers: dict[str, str] | None = None) -> None:
        fields = {"request-id": self.request_id, **(headers or {})}
        lines = "".join(f"{name}: {value}\r\n" for name, value in fields.items())
        self.answered = True
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


class HttpServer:
    """Serve `handle` on host:port (0 picks a free port) until `stop`."""

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host, self.port = host, port
        self._thread: threading.Thread | None = None
        self._stop: Callable[[], None] | None = None
        self._connections: set[asyncio.Task[None]] = set()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> Self:
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

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    async def handle(self, ex: Exchange) -> bool:
        """Answer one request; return whether the connection may be reused."""
        raise NotImplementedError

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


def serve_until_stopped(server: HttpServer, banner: str) -> None:
    """Run `server` in the foreground until SIGINT or SIGTERM; print `banner` with its {url}."""
    for signum in (signal.SIGINT, signal.SIGTERM):  # even when started with SIGINT ignored
        signal.signal(signum, signal.default_int_handler)
    with server:
        print(banner.format(url=server.url), flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()
        print("stopped", flush=True)
