"""The only code that calls Claude (tutor and sandbox): the one seam for the SDK.

Docs: https://platform.claude.com/docs/en/build-with-claude/streaming and
https://platform.claude.com/docs/en/api/errors
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import anthropic
import httpx2
from django.conf import settings

from course import allowance
from course.model_catalogue import token_counts

logger = logging.getLogger(__name__)


@dataclass
class Call:
    """What one request sent and got back; filled in as the stream goes."""

    model: str
    max_tokens: int
    started: float = field(default_factory=time.monotonic)
    first_token_at: float | None = None
    stop_reason: str = ""
    usage: dict[str, Any] = field(default_factory=dict)  # the API's usage object
    request_id: str = ""
    message_id: str = ""  # the response's msg_ id
    diagnostics: dict | None = None  # the response's cache diagnostics, when it has them

    @property
    def counts(self) -> dict[str, int]:
        """The usage as the tutor records it (`model_catalogue.TOKEN_COUNTS`)."""
        return token_counts(self.usage)

    @property
    def ttft_ms(self) -> int | None:
        if self.first_token_at is None:
            return None
        return round((self.first_token_at - self.started) * 1000)


@dataclass
class TutorError(Exception):
    """A failed call, described for the learner (never with the key or a traceback)."""

    kind: str
    message: str
    retryable: bool
    retry_after: float | None = None
    status: int | None = None
    request_id: str = ""

    def __str__(self) -> str:
        return f"{self.kind}: {self.message}"


class CapRetryAfter(anthropic.Middleware):
    """Count each attempt against the learner; let the SDK retry only when the wait is short.

    SDK 2.12 waits out any positive `retry-after` on every status it retries, capped only at
    4,294,967 s (SDKs before it ignored hints over 60 s), so a long hint on a 429 or a 529 would
    stall the reply. A 429 with no hint is a spend cap, which no retry fixes.
    """

    async def handle_async(self, request, call_next):
        allowance.note_attempt()  # every attempt, the SDK's retries too, counts for the learner
        response = await call_next(request)
        wait = _retry_after(response.http_response.headers)
        too_long = wait is not None and wait > settings.TUTOR_RETRY_AFTER_CAP_SECONDS
        if too_long or (response.status_code == 429 and wait is None):
            response.http_response.headers["x-should-retry"] = "false"
        return response


_clients: dict[int, anthropic.AsyncAnthropic] = {}


def client() -> anthropic.AsyncAnthropic:
    """One client per event loop: an httpx2 pool cannot outlive the loop it was made in."""
    loop = asyncio.get_running_loop()
    key = id(loop)
    if key not in _clients:
        _clients.clear()  # an old loop's client is unusable; let it go
        _clients[key] = anthropic.AsyncAnthropic(
            api_key=settings.ANTHROPIC_API_KEY,
            max_retries=settings.TUTOR_MAX_RETRIES,
            timeout=httpx2.Timeout(settings.TUTOR_TIMEOUT_SECONDS, connect=5.0),
            middleware=[CapRetryAfter()],
        )
    return _clients[key]


async def aclose() -> None:
    """Close this loop's client and its connections."""
    loop_client = _clients.pop(id(asyncio.get_running_loop()), None)
    if loop_client is not None:
        await loop_client.close()


async def stream_reply(
    *,
    model: str,
    max_tokens: int,
    system: list[dict],
    messages: list[dict],
    on_text: Callable[[str], None],
    call: Call,
    diagnostics: dict | None = None,
) -> None:
    """Stream a reply, calling `on_text` with each text delta; raise TutorError on failure.

    `diagnostics` ({"previous_message_id": ...}) asks the API why the prompt cache missed.

    The SDK sends the request, retries it and raises for an HTTP error; the server-sent events
    are then read as JSON rather than built into typed models, which cost about five times more
    CPU per event: the largest part of relaying a reply (docs/performance.md).
    """
    with errors_as_tutor_errors():
        extra = {"diagnostics": diagnostics} if diagnostics is not None else {}
        async with client().messages.with_streaming_response.create(
            model=model,
            max_tokens=max_tokens,
            system=system,
            messages=messages,
            stream=True,
            **extra,
        ) as response:
            call.request_id = response.request_id or ""
            async for sse in anthropic.AsyncStream.raw_events(response.http_response):
                _read_event(sse.event, sse.data, on_text, call)


def _read_event(name: str | None, data: str, on_text: Callable[[str], None], call: Call) -> None:
    """One event of the Messages API stream: https://platform.claude.com/docs/en/build-with-claude/streaming"""
    if name == "content_block_delta":
        delta = json.loads(data)["delta"]
        if delta.get("type") == "text_delta":
            on_text(delta["text"])
    elif name == "message_start":
        message = json.loads(data)["message"]
        call.usage = dict(message.get("usage") or {})
        call.message_id = message.get("id") or ""
        call.diagnostics = message.get("diagnostics")
    elif name == "message_delta":
        event = json.loads(data)
        call.stop_reason = event["delta"].get("stop_reason") or ""
        call.usage["output_tokens"] = (event.get("usage") or {}).get("output_tokens", 0)
        # Where a stream carries the diagnosis is not documented (unsettled): take either place.
        if event.get("diagnostics") is not None:
            call.diagnostics = event["diagnostics"]
    elif name == "error":
        raise _stream_error(data, call.request_id)


def _stream_error(data: str, request_id: str) -> TutorError:
    """An `error` event after the stream began (overloaded, say): the reply stops there."""
    try:
        kind = json.loads(data)["error"]["type"]
    except (ValueError, KeyError, TypeError):
        kind = "api_error"
    kind = kind if isinstance(kind, str) else "api_error"
    return TutorError(
        kind,
        f"Claude's reply was interrupted by an upstream error ({kind}).",
        True,
        status=200,
        request_id=request_id,
    )


@contextlib.contextmanager
def errors_as_tutor_errors() -> Iterator[None]:
    try:
        yield
    except anthropic.APIError as error:
        raise classify(error) from error
    except httpx2.TimeoutException as error:  # mid-stream, the SDK lets transport errors through
        raise TutorError("timeout", "Claude took too long to answer.", True) from error
    except httpx2.TransportError as error:
        raise TutorError(
            "connection", "The connection to Claude dropped before the reply finished.", True
        ) from error


def diagnosis(diagnostics: dict | None) -> str:
    """A response's cache `diagnostics` in words, or "" when it has none.

    https://platform.claude.com/docs/en/build-with-claude/cache-diagnostics: `null` means not
    asked or no divergence; a `cache_miss_reason` of `null` means the comparison was not done yet.
    """
    if not isinstance(diagnostics, dict):
        return ""
    reason = diagnostics.get("cache_miss_reason")
    if not isinstance(reason, dict):
        return "pending: the comparison was not finished; look again on the next turn"
    missed = reason.get("cache_missed_input_tokens")
    text = str(reason.get("type") or "unknown")
    if isinstance(missed, int):
        text += f", about {missed:,} input tokens not read from the cache"
    return text


def _retry_after(headers) -> float | None:
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        value = headers.get(name)
        if value:
            try:
                return float(value) * scale
            except ValueError:
                return None
    return None


def classify(error: anthropic.APIError) -> TutorError:
    """Map an SDK error to what the learner sees and whether a retry can help."""
    request_id = getattr(error, "request_id", None) or ""
    if isinstance(error, anthropic.APITimeoutError):
        return TutorError("timeout", "Claude took too long to answer.", True, request_id=request_id)
    if isinstance(error, anthropic.APIConnectionError):
        return TutorError(
            "connection",
            "The connection to Claude dropped before the reply finished.",
            True,
            request_id=request_id,
        )
    if not isinstance(error, anthropic.APIStatusError):
        return TutorError("error", "Something went wrong talking to Claude.", True)
    status = error.status_code
    kind = getattr(error, "type", None) or _body_type(error) or "api_error"
    common = {"status": status, "request_id": request_id}
    if status == 200:  # an `error` event in a stream that had already begun
        return TutorError(
            kind, f"Claude's reply was interrupted by an upstream error ({kind}).", True, **common
        )
    if status == 429:
        wait = _retry_after(error.response.headers)
        if wait is None:
            message = "The course has hit Claude's usage limit for now. Please try again later."
        else:
            message = (
                f"Claude is receiving too many requests. Try again in {max(1, round(wait))} s."
            )
        return TutorError("rate_limit_error", message, wait is not None, retry_after=wait, **common)
    if status == 529:
        return TutorError("overloaded_error", "Claude is overloaded right now.", True, **common)
    if status >= 500:
        return TutorError(kind, "Claude's service had a temporary problem.", True, **common)
    if status in (401, 403):
        # An operator problem: the key is wrong, revoked or lacks access. Say so loudly, once
        # per failure, without the key itself.
        logger.critical(
            "Anthropic refused the tutor's API key (HTTP %s %s, request %s): "
            "check ANTHROPIC_API_KEY",
            status,
            kind,
            request_id or "-",
        )
        return TutorError(
            kind,
            "The tutor is unavailable because of a configuration problem. The site team "
            "has been alerted.",
            False,
            **common,
        )
    logger.error(
        "Anthropic rejected a tutor request: HTTP %s %s (request %s)", status, kind, request_id
    )
    return TutorError(
        kind, f"Claude could not answer this request ({status} {kind}).", False, **common
    )


def _body_type(error: anthropic.APIStatusError) -> str | None:
    body = error.body if isinstance(error.body, dict) else {}
    inner = body.get("error") if isinstance(body.get("error"), dict) else body
    return inner.get("type") if isinstance(inner, dict) else None


async def count_tokens(*, model: str, system: list[dict], messages: list[dict]) -> int:
    """Count a request's input tokens with the API; raise TutorError on failure.

    Docs: https://platform.claude.com/docs/en/build-with-claude/token-counting
    """
    # Its own short-lived client: a page waits on this, so fail fast and never retry, and
    # leave the tutor's per-loop clients alone (a sync view's async_to_sync loop is temporary).
    with errors_as_tutor_errors():
        async with anthropic.AsyncAnthropic(
            api_key=settings.ANTHROPIC_API_KEY,
            max_retries=0,
            timeout=httpx2.Timeout(5.0, connect=2.0),
        ) as counter:
            counted = await counter.messages.count_tokens(
                model=model, system=system, messages=messages
            )
    return counted.input_tokens


@dataclass
class RawResult:
    """The end of one raw Messages API call the sandbox made for a learner."""

    status: int
    message: dict | None  # the response body (non-streamed) or None
    error: dict | None  # the API's error object plus "status" (and "retry_after"), or None
    request_id: str = ""


def _raw_error(error: Exception) -> RawResult:
    if isinstance(error, anthropic.APIStatusError):
        body = error.body if isinstance(error.body, dict) else {}
        inner = body.get("error") if isinstance(body.get("error"), dict) else body
        found = {
            "type": (inner or {}).get("type") or getattr(error, "type", None) or "api_error",
            "message": (inner or {}).get("message") or str(error),
            "status": error.status_code,
        }
        wait = _retry_after(error.response.headers)
        if wait is not None:
            found["retry_after"] = wait
        return RawResult(error.status_code, None, found, error.request_id or "")
    if isinstance(error, anthropic.APITimeoutError | httpx2.TimeoutException):
        message = "Claude took too long to answer."
    else:
        message = "The connection to Claude failed before the reply finished."
    return RawResult(502, None, {"type": "api_connection_error", "message": message, "status": 502})


async def raw_messages(body: dict) -> AsyncIterator[tuple[str, dict | RawResult]]:
    """Send a learner's request body as it is; yield ("event", {...}) per SSE event, then
    ("done", RawResult). Streamed runs read the raw events, so `ping` reaches the timeline.

    Docs: https://platform.claude.com/docs/en/api/messages
    """
    extra = dict(body)
    required = {name: extra.pop(name) for name in ("model", "max_tokens", "messages")}
    streamed = extra.pop("stream", False) is True
    try:
        if not streamed:
            raw = await client().messages.with_raw_response.create(**required, extra_body=extra)
            message = json.loads(raw.http_response.content)
            yield (
                "done",
                RawResult(raw.http_response.status_code, message, None, raw.request_id or ""),
            )
            return
        async with client().messages.with_streaming_response.create(
            **required, stream=True, extra_body=extra
        ) as response:
            request_id = response.headers.get("request-id", "")
            name = ""
            async for line in response.iter_lines():
                if line.startswith("event:"):
                    name = line.removeprefix("event:").strip()
                elif line.startswith("data:"):
                    data = json.loads(line.removeprefix("data:").strip())
                    yield "event", {"event": name or data.get("type", ""), "data": data}
                    if data.get("type") == "error":
                        error = {**data.get("error", {}), "status": 200}
                        yield "done", RawResult(200, None, error, request_id)
                        return
            yield "done", RawResult(200, None, None, request_id)
    except (anthropic.APIError, httpx2.TransportError) as error:
        yield "done", _raw_error(error)
