"""The fake Anthropic server, driven by the real anthropic SDK over loopback."""

from __future__ import annotations

import asyncio
import http.client
import json
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import anthropic
import httpx2
import pytest

from tests.fake_anthropic import (
    Drop,
    FakeAnthropic,
    HttpError,
    Reply,
    Stall,
    StreamError,
    tokens,
)

MODEL = "claude-opus-5"
HELLO = [{"role": "user", "content": "Hello"}]
# 2,400 characters = 800 fake tokens: above the default 512-token caching minimum.
LESSON = "Lesson text about prompt caching. " * 70 + "The end of lesson..."
assert tokens(LESSON) == 800


@pytest.fixture
def fake_anthropic() -> Iterator[FakeAnthropic]:
    with FakeAnthropic() as server:
        yield server


def async_client(server: FakeAnthropic, max_retries: int = 0) -> anthropic.AsyncAnthropic:
    return anthropic.AsyncAnthropic(
        api_key="test-key", base_url=server.url, max_retries=max_retries
    )


def sync_client(server: FakeAnthropic, max_retries: int = 0) -> anthropic.Anthropic:
    return anthropic.Anthropic(api_key="test-key", base_url=server.url, max_retries=max_retries)


def raw_post(
    server: FakeAnthropic, path: str, body: Any, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    """POST without the SDK; returns (status, lower-cased headers, decoded body bytes)."""
    if headers is None:
        headers = {"x-api-key": "test-key", "anthropic-version": "2026-10-21"}
        headers["content-type"] = "application/json"
    url = urlsplit(server.url)
    connection = http.client.HTTPConnection(url.hostname, url.port, timeout=5)
    try:
        payload = body if isinstance(body, bytes) else json.dumps(body).encode()
        connection.request("POST", path, body=payload, headers=headers)
        response = connection.getresponse()
        data = response.read()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, data
    finally:
        connection.close()


def cached_system(text: str = LESSON, **marker: str) -> list[dict[str, Any]]:
    return [
        {"type": "text", "text": "You are a tutor."},
        {"type": "text", "text": text, "cache_control": {"type": "ephemeral", **marker}},
    ]


def usage_of(message: anthropic.types.Message) -> tuple[int, int, int]:
    usage = message.usage
    return usage.input_tokens, usage.cache_creation_input_tokens, usage.cache_read_input_tokens


async def wait_until(condition: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.005)


# ----------------------------------------------------------------------------- happy path


@pytest.mark.asyncio
async def test_it_streams_the_documented_event_sequence(fake_anthropic: FakeAnthropic) -> None:
    fake_anthropic.enqueue(Reply(tokens=3))
    async with async_client(fake_anthropic) as client:
        stream = await client.messages.create(
            model=MODEL, max_tokens=100, messages=HELLO, stream=True
        )
        async with stream:
            kinds = [event.type async for event in stream]
    assert kinds == [
        "message_start",
        "content_block_start",
        "content_block_delta",
        "content_block_delta",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]


@pytest.mark.asyncio
async def test_the_stream_helper_yields_the_text_and_a_final_message_with_usage(
    fake_anthropic: FakeAnthropic,
) -> None:
    async with (
        async_client(fake_anthropic) as client,
        client.messages.stream(model=MODEL, max_tokens=100, messages=HELLO) as stream,
    ):
        deltas = [text async for text in stream.text_stream]
        final = await stream.get_final_message()
    words = " ".join(f"w{i:04d}" for i in range(1, 20))
    assert deltas[:3] == ["You asked about: Hello.", " w0001", " w0002"]
    assert final.content[0].text == "".join(deltas) == f"You asked about: Hello. {words}"
    assert final.id.startswith("msg_")
    assert final.model == MODEL
    assert final.stop_reason == "end_turn"
    assert final.usage.input_tokens == tokens("Hello")
    assert final.usage.output_tokens == 20
    assert final.usage.service_tier == "standard"
    assert stream.request_id == fake_anthropic.requests[0].request_id


def test_the_raw_wire_format_has_named_events_and_a_ping(fake_anthropic: FakeAnthropic) -> None:
    fake_anthropic.enqueue(Reply(tokens=10))
    body = {"model": MODEL, "max_tokens": 100, "messages": HELLO, "stream": True}
    status, headers, data = raw_post(fake_anthropic, "/v1/messages", body)
    assert status == 200
    assert headers["content-type"].startswith("text/event-stream")
    assert headers["request-id"].startswith("req_")
    frames = data.decode().split("\n\n")
    assert frames.pop() == ""
    kinds = []
    for frame in frames:
        event_line, data_line = frame.split("\n")
        kind = event_line.removeprefix("event: ")
        assert json.loads(data_line.removeprefix("data: "))["type"] == kind
        kinds.append(kind)
    assert kinds[:3] == ["message_start", "content_block_start", "ping"]
    assert kinds[3:] == ["content_block_delta"] * 10 + [
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    assert 'event: ping\ndata: {"type": "ping"}\n\n' in data.decode()
    message_delta = json.loads(frames[-2].split("\ndata: ")[1])
    delta = message_delta["delta"]
    assert (delta["stop_reason"], delta["stop_sequence"]) == ("end_turn", None)
    assert delta.get("stop_details") is None  # the simulator's shape: absent or null
    assert message_delta["usage"] == {"output_tokens": 10}


def test_non_streaming_create_returns_a_full_message(fake_anthropic: FakeAnthropic) -> None:
    fake_anthropic.enqueue(Reply(text="Hi there, Ada!"))
    with sync_client(fake_anthropic) as client:
        message = client.messages.create(model=MODEL, max_tokens=100, messages=HELLO)
    assert message.type == "message"
    assert message.role == "assistant"
    assert message.content[0].text == "Hi there, Ada!"
    assert message.stop_reason == "end_turn"
    assert message.stop_details is None
    assert message.usage.output_tokens == 3
    recorded = fake_anthropic.requests[0]
    assert recorded.path == "/v1/messages"
    assert recorded.headers["authorization"] == "Bearer test-key"
    assert recorded.headers["anthropic-version"] == "2026-10-21"
    assert recorded.body == {"model": MODEL, "max_tokens": 100, "messages": HELLO}


@pytest.mark.asyncio
async def test_count_tokens_counts_the_system_prompt_and_messages(
    fake_anthropic: FakeAnthropic,
) -> None:
    async with async_client(fake_anthropic) as client:
        count = await client.messages.count_tokens(
            model=MODEL, system=cached_system(), messages=HELLO
        )
    assert count.input_tokens == tokens("You are a tutor.") + tokens(LESSON) + tokens("Hello")
    assert fake_anthropic.requests[0].path == "/v1/messages/count_tokens"


def test_keep_alive_serves_several_requests_on_one_connection(
    fake_anthropic: FakeAnthropic,
) -> None:
    with sync_client(fake_anthropic) as client:
        for _ in range(3):
            client.messages.create(model=MODEL, max_tokens=5, messages=HELLO)
    assert len(fake_anthropic.requests) == 3


@pytest.mark.asyncio
async def test_fifty_concurrent_streams_all_complete(fake_anthropic: FakeAnthropic) -> None:
    async def one(client: anthropic.AsyncAnthropic) -> str:
        async with client.messages.stream(model=MODEL, max_tokens=100, messages=HELLO) as stream:
            return await stream.get_final_text()

    async with async_client(fake_anthropic) as client:
        texts = await asyncio.gather(*(one(client) for _ in range(50)))
    assert len(set(texts)) == 1
    assert len(fake_anthropic.stream_timings) == 50


# ----------------------------------------------------------------------------- validation


def test_a_request_without_credentials_gets_401(fake_anthropic: FakeAnthropic) -> None:
    headers = {"anthropic-version": "2026-10-21", "content-type": "application/json"}
    body = {"model": MODEL, "max_tokens": 10, "messages": HELLO}
    status, response_headers, data = raw_post(fake_anthropic, "/v1/messages", body, headers)
    assert status == 401
    error = json.loads(data)
    assert list(error) == ["type", "error", "request_id"]
    assert error["type"] == "error"
    assert error["error"]["type"] == "authentication_error"
    assert error["request_id"] == response_headers["request-id"]


@pytest.mark.parametrize(
    ("headers", "body", "fragment"),
    [
        ({"x-api-key": "k", "content-type": "application/json"}, {}, "anthropic-version"),
        ({"x-api-key": "k", "anthropic-version": "2026-10-21"}, {}, "content-type"),
        (None, b"{not json", "not valid JSON"),
        (None, {"model": MODEL, "messages": HELLO}, "max_tokens: Field required"),
        (None, {"max_tokens": 5, "messages": HELLO}, "model: Field required"),
        (None, {"model": MODEL, "max_tokens": 5}, "messages: Field required"),
    ],
)
def test_malformed_requests_get_400_invalid_request_error(
    fake_anthropic: FakeAnthropic, headers: dict[str, str] | None, body: Any, fragment: str
) -> None:
    status, _, data = raw_post(fake_anthropic, "/v1/messages", body, headers)
    assert status == 400
    error = json.loads(data)["error"]
    assert error["type"] == "invalid_request_error"
    assert fragment in error["message"]


def test_an_unknown_path_gets_404_not_found_error(fake_anthropic: FakeAnthropic) -> None:
    status, _, data = raw_post(fake_anthropic, "/v1/complete", {})
    assert status == 404
    assert json.loads(data)["error"]["type"] == "not_found_error"


def test_temperature_is_rejected_on_api_version_2026_10_21(fake_anthropic: FakeAnthropic) -> None:
    with sync_client(fake_anthropic) as client, pytest.raises(anthropic.BadRequestError) as caught:
        client.messages.create(
            model=MODEL, max_tokens=10, messages=HELLO, extra_body={"temperature": 0.2}
        )
    assert caught.value.type == "invalid_request_error"
    assert "temperature" in caught.value.api_message
    headers = {"x-api-key": "k", "anthropic-version": "2023-06-01"}
    headers["content-type"] = "application/json"
    # On 2023-06-01 an older model still takes it; Opus 4.7 and later refuse it (api-facts §2.3).
    older = {"model": "claude-haiku-4-5", "max_tokens": 5, "messages": HELLO, "temperature": 0.2}
    assert raw_post(fake_anthropic, "/v1/messages", older, headers)[0] == 200
    newer = {**older, "model": MODEL}
    assert raw_post(fake_anthropic, "/v1/messages", newer, headers)[0] == 400


# ----------------------------------------------------------------------------- scripted errors


@pytest.mark.asyncio
async def test_a_529_raises_overloaded_error_without_retries(fake_anthropic: FakeAnthropic) -> None:
    fake_anthropic.enqueue(HttpError(529, "overloaded_error", "Overloaded"))
    async with async_client(fake_anthropic) as client:
        with pytest.raises(anthropic.OverloadedError) as caught:
            await client.messages.create(model=MODEL, max_tokens=10, messages=HELLO)
    assert caught.value.status_code == 529
    assert caught.value.type == "overloaded_error"
    assert caught.value.request_id == fake_anthropic.requests[0].request_id
    assert len(fake_anthropic.requests) == 1


@pytest.mark.asyncio
async def test_a_529_then_a_reply_succeeds_after_one_retry(fake_anthropic: FakeAnthropic) -> None:
    fake_anthropic.enqueue(HttpError(529, "overloaded_error", retry_after=0.05), Reply(text="ok"))
    async with (
        async_client(fake_anthropic, max_retries=1) as client,
        client.messages.stream(model=MODEL, max_tokens=10, messages=HELLO) as stream,
    ):
        assert await stream.get_final_text() == "ok"
    requests = fake_anthropic.requests
    assert len(requests) == 2
    assert [r.headers["x-stainless-retry-count"] for r in requests] == ["0", "1"]


def test_a_429_exposes_retry_after_on_the_exception(fake_anthropic: FakeAnthropic) -> None:
    fake_anthropic.enqueue(HttpError(429, "rate_limit_error", "Slow down", retry_after=7))
    with sync_client(fake_anthropic) as client, pytest.raises(anthropic.RateLimitError) as caught:
        client.messages.create(model=MODEL, max_tokens=10, messages=HELLO)
    assert caught.value.response.headers["retry-after"] == "7"
    assert caught.value.body["error"] == {"type": "rate_limit_error", "message": "Slow down"}


def test_x_should_retry_false_stops_the_sdk_retrying(fake_anthropic: FakeAnthropic) -> None:
    fake_anthropic.enqueue(HttpError(500, "api_error", should_retry=False))
    with (
        sync_client(fake_anthropic, max_retries=2) as client,
        pytest.raises(anthropic.InternalServerError),
    ):
        client.messages.create(model=MODEL, max_tokens=10, messages=HELLO)
    assert len(fake_anthropic.requests) == 1


@pytest.mark.asyncio
async def test_a_mid_stream_error_raises_a_plain_api_status_error_with_status_200(
    fake_anthropic: FakeAnthropic,
) -> None:
    fake_anthropic.enqueue(StreamError(after=2))
    received = []
    async with async_client(fake_anthropic, max_retries=2) as client:
        with pytest.raises(anthropic.APIStatusError) as caught:
            async with client.messages.stream(
                model=MODEL, max_tokens=100, messages=HELLO
            ) as stream:
                async for text in stream.text_stream:
                    received.append(text)
    assert type(caught.value) is anthropic.APIStatusError  # not OverloadedError, not retried
    assert caught.value.status_code == 200
    assert caught.value.type == "overloaded_error"
    assert caught.value.body["error"]["type"] == "overloaded_error"
    assert received == ["You asked about: Hello.", " w0001"]
    assert len(fake_anthropic.requests) == 1


@pytest.mark.asyncio
async def test_a_dropped_stream_raises_httpx2_remote_protocol_error_not_an_api_error(
    fake_anthropic: FakeAnthropic,
) -> None:
    fake_anthropic.enqueue(Drop(after=2))
    received = []
    async with async_client(fake_anthropic) as client:
        with pytest.raises(httpx2.RemoteProtocolError) as caught:
            async with client.messages.stream(
                model=MODEL, max_tokens=100, messages=HELLO
            ) as stream:
                async for text in stream.text_stream:
                    received.append(text)
    # The SDK does not wrap errors raised while reading the body: catch httpx2 errors too.
    assert not isinstance(caught.value, anthropic.APIError)
    assert "incomplete chunked read" in str(caught.value)
    assert len(received) == 2


def test_a_drop_before_any_response_raises_api_connection_error(
    fake_anthropic: FakeAnthropic,
) -> None:
    fake_anthropic.enqueue(Drop())
    with (
        sync_client(fake_anthropic) as client,
        pytest.raises(anthropic.APIConnectionError) as caught,
    ):
        client.messages.create(model=MODEL, max_tokens=10, messages=HELLO)
    assert not isinstance(caught.value, anthropic.APITimeoutError)


@pytest.mark.asyncio
async def test_a_stalled_request_times_out(fake_anthropic: FakeAnthropic) -> None:
    fake_anthropic.enqueue(Stall(seconds=30))
    started = time.monotonic()
    async with async_client(fake_anthropic) as client:
        with pytest.raises(anthropic.APITimeoutError):
            async with client.messages.stream(
                model=MODEL, max_tokens=10, messages=HELLO, timeout=0.5
            ) as stream:
                await stream.get_final_message()
    assert time.monotonic() - started < 2  # the timeout, not the 30 s stall


@pytest.mark.asyncio
async def test_a_stall_blocks_no_other_connection_and_ends_when_the_server_stops() -> None:
    with FakeAnthropic() as server:
        server.enqueue(Stall(seconds=30))
        async with async_client(server) as client:
            stalled = asyncio.create_task(
                client.messages.create(model=MODEL, max_tokens=10, messages=HELLO, timeout=5)
            )
            await wait_until(lambda: len(server.requests) == 1)
            message = await client.messages.create(model=MODEL, max_tokens=3, messages=HELLO)
            assert message.usage.output_tokens == 3
            started = time.monotonic()
            server.stop()  # ends the stalled connection instead of waiting 30 s
            with pytest.raises(anthropic.APIConnectionError):
                await stalled
            assert time.monotonic() - started < 2


# ----------------------------------------------------------------------------- stop reasons


@pytest.mark.asyncio
async def test_max_tokens_cuts_the_reply_off(fake_anthropic: FakeAnthropic) -> None:
    async with (
        async_client(fake_anthropic) as client,
        client.messages.stream(model=MODEL, max_tokens=5, messages=HELLO) as stream,
    ):
        final = await stream.get_final_message()
    assert final.stop_reason == "max_tokens"
    assert final.usage.output_tokens == 5
    assert final.content[0].text.endswith(" w0004")


@pytest.mark.asyncio
async def test_a_refusal_carries_stop_details(fake_anthropic: FakeAnthropic) -> None:
    fake_anthropic.enqueue(
        Reply(text="I can't", stop_reason="refusal", refusal_category="bio"),
        Reply(text="", stop_reason="refusal"),
    )
    async with async_client(fake_anthropic) as client:
        async with client.messages.stream(model=MODEL, max_tokens=10, messages=HELLO) as stream:
            streamed = await stream.get_final_message()
        created = await client.messages.create(model=MODEL, max_tokens=10, messages=HELLO)
    assert streamed.stop_reason == "refusal"
    assert streamed.content[0].text == "I can't"
    assert streamed.stop_details.type == "refusal"
    assert streamed.stop_details.category == "bio"
    assert streamed.stop_details.explanation == "This request was refused due to policy."
    assert created.stop_reason == "refusal"
    assert created.stop_details.category == "cyber"


# ----------------------------------------------------------------------------- prompt caching


@pytest.mark.asyncio
async def test_an_identical_cached_system_prompt_is_written_then_read(
    fake_anthropic: FakeAnthropic,
) -> None:
    prefix = tokens("You are a tutor.") + tokens(LESSON)
    async with async_client(fake_anthropic) as client:
        usages = []
        for _ in range(2):
            async with client.messages.stream(
                model=MODEL, max_tokens=10, system=cached_system(), messages=HELLO
            ) as stream:
                usages.append(usage_of(await stream.get_final_message()))
    assert usages == [(tokens("Hello"), prefix, 0), (tokens("Hello"), 0, prefix)]


@pytest.mark.asyncio
async def test_the_cache_write_is_reported_per_ttl(fake_anthropic: FakeAnthropic) -> None:
    async with async_client(fake_anthropic) as client:
        message = await client.messages.create(
            model=MODEL, max_tokens=10, system=cached_system(ttl="1h"), messages=HELLO
        )
    assert message.usage.cache_creation.ephemeral_1h_input_tokens == 806
    assert message.usage.cache_creation.ephemeral_5m_input_tokens == 0


@pytest.mark.asyncio
async def test_one_changed_byte_in_the_system_prompt_misses_the_cache(
    fake_anthropic: FakeAnthropic,
) -> None:
    async with async_client(fake_anthropic) as client:
        first = await client.messages.create(
            model=MODEL, max_tokens=10, system=cached_system(), messages=HELLO
        )
        changed = cached_system(LESSON.replace("The end", "The End"))
        second = await client.messages.create(
            model=MODEL, max_tokens=10, system=changed, messages=HELLO
        )
    assert usage_of(first)[1:] == (806, 0)
    assert usage_of(second)[1:] == (806, 0)


@pytest.mark.asyncio
async def test_a_prefix_below_the_minimum_is_never_cached(fake_anthropic: FakeAnthropic) -> None:
    short = cached_system("A short lesson. " * 75)  # 400 tokens
    async with async_client(fake_anthropic) as client:
        for _ in range(2):
            message = await client.messages.create(
                model=MODEL, max_tokens=10, system=short, messages=HELLO
            )
            assert usage_of(message) == (6 + 400 + 2, 0, 0)


def user(text: str, cached: bool = False) -> dict[str, Any]:
    block: dict[str, Any] = {"type": "text", "text": text}
    if cached:
        block["cache_control"] = {"type": "ephemeral"}
    return {"role": "user", "content": [block]}


def assistant(text: str) -> dict[str, Any]:
    return {"role": "assistant", "content": text}


Q1, A1, Q2, A2, Q3 = "Question one?" * 10, "Answer one." * 10, "Two?", "Answer two.", "Three?"
SYSTEM = tokens("You are a tutor.") + tokens(LESSON)  # 806
q1, a1, q2, a2, q3 = (tokens(text) for text in (Q1, A1, Q2, A2, Q3))  # 44, 37, 2, 4, 2


async def usages_of_turns(
    server: FakeAnthropic, turns: list[list[dict[str, Any]]], **kw: Any
) -> list[tuple[int, int, int]]:
    async with async_client(server) as client:
        usages = []
        for messages in turns:
            message = await client.messages.create(
                model=MODEL, max_tokens=10, system=cached_system(), messages=messages, **kw
            )
            usages.append(usage_of(message))
    return usages


@pytest.mark.asyncio
async def test_a_breakpoint_on_the_newest_message_lets_the_next_turn_read_the_longer_prefix(
    fake_anthropic: FakeAnthropic,
) -> None:
    turns = [
        [user(Q1, cached=True)],
        [user(Q1, cached=True), assistant(A1), user(Q2, cached=True)],
        [user(Q1, cached=True), assistant(A1), user(Q2, cached=True), assistant(A2), user(Q3)],
    ]
    assert await usages_of_turns(fake_anthropic, turns) == [
        (0, SYSTEM + q1, 0),
        (0, a1 + q2, SYSTEM + q1),
        (a2 + q3, 0, SYSTEM + q1 + a1 + q2),
    ]


@pytest.mark.asyncio
async def test_a_breakpoint_moved_to_the_newest_turn_reads_the_prefix_the_last_turn_wrote() -> None:
    # As in the API, a hit depends on the prefix's content, not on where the markers sit.
    turns = [
        [user(Q1, cached=True)],
        [user(Q1), assistant(A1), user(Q2, cached=True)],
        [user(Q1), assistant(A1), user(Q2), assistant(A2), user(Q3, cached=True)],
    ]
    with FakeAnthropic() as server:
        assert await usages_of_turns(server, turns) == [
            (0, SYSTEM + q1, 0),
            (0, a1 + q2, SYSTEM + q1),
            (0, a2 + q3, SYSTEM + q1 + a1 + q2),
        ]


@pytest.mark.asyncio
async def test_top_level_cache_control_marks_the_last_block(fake_anthropic: FakeAnthropic) -> None:
    turns = [[user(Q1)], [user(Q1), assistant(A1), user(Q2)]]
    marker = {"type": "ephemeral"}
    assert await usages_of_turns(fake_anthropic, turns, cache_control=marker) == [
        (0, SYSTEM + q1, 0),
        (0, a1 + q2, SYSTEM + q1),
    ]


@pytest.mark.asyncio
async def test_cache_entries_expire_after_their_ttl_and_reads_refresh_them() -> None:
    now = [1000.0]
    with FakeAnthropic(clock=lambda: now[0]) as server:
        async with async_client(server) as client:

            async def cache_read(**marker: str) -> int:
                message = await client.messages.create(
                    model=MODEL, max_tokens=10, system=cached_system(**marker), messages=HELLO
                )
                return message.usage.cache_read_input_tokens

            assert await cache_read() == 0
            now[0] += 299
            assert await cache_read() == 806  # and the TTL restarts here
            now[0] += 299
            assert await cache_read() == 806
            now[0] += 301
            assert await cache_read() == 0  # expired, so written again
            now[0] += 301
            assert await cache_read(ttl="1h") == 0  # the 5-minute entry has expired
            now[0] += 3599
            assert await cache_read(ttl="1h") == 806


# ----------------------------------------------------------------------------- benchmark hooks


@pytest.mark.asyncio
async def test_an_in_band_marker_overrides_the_default_reply(
    fake_anthropic: FakeAnthropic,
) -> None:
    question = "What is caching? [[fake ttft=0.05 rate=100 tokens=4 id=abc]]"
    messages = [{"role": "user", "content": question}]
    async with (
        async_client(fake_anthropic) as client,
        client.messages.stream(model=MODEL, max_tokens=100, messages=messages) as stream,
    ):
        text = await stream.get_final_text()
    assert text == "You asked about: What is caching?. w0001 w0002 w0003"
    timings = fake_anthropic.stream_timings["abc"]
    arrival = fake_anthropic.stream_arrivals["abc"]
    assert arrival == fake_anthropic.requests[0].received_ns
    assert len(timings) == 4
    for i, sent in enumerate(timings):  # delta i is due ttft + i / rate after the arrival
        assert sent - arrival >= 50_000_000 + i * 10_000_000 - 1_000  # 1 µs for float rounding


@pytest.mark.asyncio
async def test_a_client_hanging_up_mid_stream_counts_as_an_aborted_stream(
    fake_anthropic: FakeAnthropic,
) -> None:
    fake_anthropic.enqueue(Reply(tokens=200, rate=100))  # 2 s unless the hang-up is seen
    async with (
        async_client(fake_anthropic) as client,
        client.messages.stream(model=MODEL, max_tokens=200, messages=HELLO) as stream,
    ):
        async for _text in stream.text_stream:
            break
    await wait_until(lambda: fake_anthropic.aborted_streams == 1)
    assert len(next(iter(fake_anthropic.stream_timings.values()))) < 200


def test_reset_forgets_everything(fake_anthropic: FakeAnthropic) -> None:
    with sync_client(fake_anthropic) as client:
        client.messages.create(model=MODEL, max_tokens=10, system=cached_system(), messages=HELLO)
        fake_anthropic.enqueue(HttpError(500, "api_error"))
        fake_anthropic.reset()
        message = client.messages.create(
            model=MODEL, max_tokens=10, system=cached_system(), messages=HELLO
        )
    assert usage_of(message)[1:] == (806, 0)
    assert len(fake_anthropic.requests) == 1


def test_the_fake_refuses_with_the_sites_own_validator(fake_anthropic: FakeAnthropic) -> None:
    from course.model_catalogue import model_data
    from course.sandbox import validator

    block = {"type": "text", "text": "x", "cache_control": {"type": "ephemeral"}}
    body = {"model": MODEL, "max_tokens": 5, "messages": HELLO, "system": [block] * 5}
    status, _, data = raw_post(fake_anthropic, "/v1/messages", body)
    expected = validator.validate(body, model_data())
    assert status == expected.status == 400
    assert json.loads(data)["error"] == {"type": expected.type, "message": expected.message}
    unknown = {"model": "claude-haiku-3-5", "max_tokens": 5, "messages": HELLO}
    status, _, data = raw_post(fake_anthropic, "/v1/messages", unknown)
    assert status == 404 and json.loads(data)["error"]["type"] == "not_found_error"
