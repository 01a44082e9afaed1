"""The simulator, read by the official SDK through a tiny local server that serves its output."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import anthropic
import pytest

from course.models_data import model_data
from course.sandbox import simulator, validator

MODEL = "claude-haiku-5-5"
HELLO = [{"role": "user", "content": "How do I send my first request?"}]
# 2,400 characters = 600 estimated tokens: above Haiku 5.5's 512-token minimum.
LESSON = "Lesson text about prompt caching. " * 70 + "The end of lesson..."


class SimulatorServer:
    """POST /v1/messages answered by the simulator (one private cache), over real HTTP."""

    def __init__(self) -> None:
        self.store = simulator.MemoryStore()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["content-length"])))
                request_id = simulator.new_id("req_")
                if error := validator.validate(body, model_data()):
                    self.reply(error.status, "application/json", json.dumps(error.body(request_id)))
                    return
                outcome = simulator.simulate(body, model_data(), outer.store, request_id)
                if outcome.events:
                    self.reply(200, "text/event-stream", simulator.sse(outcome.events).decode())
                else:
                    self.reply(200, "application/json", json.dumps(outcome.response))

            def reply(self, status: int, content_type: str, payload: str) -> None:
                data = payload.encode()
                self.send_response(status)
                self.send_header("content-type", content_type)
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"


@pytest.fixture
def client() -> Iterator[anthropic.Anthropic]:
    server = SimulatorServer()
    thread = threading.Thread(target=server.httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    with anthropic.Anthropic(api_key="test", base_url=server.url, max_retries=0) as sdk:
        yield sdk
    server.httpd.shutdown()
    server.httpd.server_close()


def test_a_simulated_reply_parses_as_an_sdk_message(client: anthropic.Anthropic) -> None:
    message = client.messages.create(model=MODEL, max_tokens=256, messages=HELLO)
    assert message.id.startswith("msg_")
    assert message.type == "message" and message.role == "assistant"
    assert message.model == MODEL
    assert message.stop_reason == "end_turn"
    assert message.stop_sequence is None
    assert message.content[0].type == "text"
    assert "send my first request" in message.content[0].text
    assert message.usage.input_tokens == simulator.estimate_tokens(HELLO[0]["content"])
    assert message.usage.output_tokens == len(simulator.words(message.content[0].text))


def test_a_simulated_stream_parses_with_the_sdks_stream_helper(client: anthropic.Anthropic) -> None:
    plain = client.messages.create(model=MODEL, max_tokens=256, messages=HELLO)
    with client.messages.stream(model=MODEL, max_tokens=256, messages=HELLO) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == plain.content[0].text == final.content[0].text
    assert final.stop_reason == "end_turn"
    assert final.usage.output_tokens == plain.usage.output_tokens


def test_a_stream_has_the_documented_event_sequence(client: anthropic.Anthropic) -> None:
    with client.messages.with_streaming_response.create(
        model=MODEL, max_tokens=256, messages=HELLO, stream=True
    ) as response:
        assert response.headers["content-type"] == "text/event-stream"
        lines = list(response.iter_lines())
    names = [line.removeprefix("event: ") for line in lines if line.startswith("event: ")]
    datas = [json.loads(line.removeprefix("data: ")) for line in lines if line.startswith("data: ")]
    assert [data["type"] for data in datas] == names  # each event's data names its event
    assert names[:3] == ["message_start", "content_block_start", "ping"]
    assert set(names[3:-3]) == {"content_block_delta"}
    assert names[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    assert datas[0]["message"]["stop_reason"] is None
    assert datas[-2]["delta"]["stop_reason"] == "end_turn"
    # The SDK's own raw event stream reads the same sequence (it skips the ping).
    events = list(client.messages.create(model=MODEL, max_tokens=256, messages=HELLO, stream=True))
    assert [event.type for event in events] == [n for n in names if n != "ping"]


def test_a_small_max_tokens_cuts_the_reply_with_stop_reason_max_tokens(
    client: anthropic.Anthropic,
) -> None:
    message = client.messages.create(model=MODEL, max_tokens=5, messages=HELLO)
    assert message.stop_reason == "max_tokens"
    assert message.usage.output_tokens == 5
    with client.messages.stream(model=MODEL, max_tokens=5, messages=HELLO) as stream:
        assert stream.get_final_message().stop_reason == "max_tokens"


def test_max_tokens_zero_generates_nothing(client: anthropic.Anthropic) -> None:
    message = client.messages.create(model=MODEL, max_tokens=0, messages=HELLO)
    assert message.content == []
    assert message.stop_reason == "max_tokens"


def test_a_stop_sequence_ends_the_reply_and_is_left_out_of_the_text(
    client: anthropic.Anthropic,
) -> None:
    prompt = [{"role": "user", "content": "Write a poem, then ### on its own line, then explain."}]
    message = client.messages.create(
        model=MODEL, max_tokens=300, messages=prompt, stop_sequences=["###"]
    )
    assert message.stop_reason == "stop_sequence"
    assert message.stop_sequence == "###"
    assert "###" not in message.content[0].text
    unstopped = client.messages.create(model=MODEL, max_tokens=300, messages=prompt)
    assert "\n\n###\n\n" in unstopped.content[0].text  # the marker the prompt asked for


def test_a_closing_brace_stop_sequence_cuts_json_at_the_inner_object(
    client: anthropic.Anthropic,
) -> None:
    prompt = [{"role": "user", "content": "Answer in JSON: what is caching?"}]
    message = client.messages.create(
        model=MODEL, max_tokens=300, messages=prompt, stop_sequences=["}"]
    )
    assert message.stop_reason == "stop_sequence"
    with pytest.raises(json.JSONDecodeError):
        json.loads(message.content[0].text)


def test_the_same_request_gets_the_same_text(client: anthropic.Anthropic) -> None:
    first = client.messages.create(model=MODEL, max_tokens=256, messages=HELLO)
    second = client.messages.create(model=MODEL, max_tokens=256, messages=HELLO)
    assert first.content[0].text == second.content[0].text
    assert first.id != second.id


def cached_system(text: str = LESSON, ttl: str = "5m") -> list[dict]:
    return [{"type": "text", "text": text, "cache_control": {"type": "ephemeral", "ttl": ttl}}]


def test_the_first_run_writes_the_cache_and_the_second_reads_it(
    client: anthropic.Anthropic,
) -> None:
    first = client.messages.create(
        model=MODEL, max_tokens=50, system=cached_system(), messages=HELLO
    )
    assert first.usage.cache_creation_input_tokens == 600
    assert first.usage.cache_read_input_tokens == 0
    assert first.usage.cache_creation.ephemeral_5m_input_tokens == 600
    with client.messages.stream(
        model=MODEL, max_tokens=50, system=cached_system(), messages=HELLO
    ) as stream:
        second = stream.get_final_message()
    assert second.usage.cache_creation_input_tokens == 0
    assert second.usage.cache_read_input_tokens == 600
    assert second.usage.input_tokens == first.usage.input_tokens


def test_a_prefix_below_the_models_minimum_is_not_cached(client: anthropic.Anthropic) -> None:
    for _ in range(2):
        message = client.messages.create(
            model=MODEL, max_tokens=50, system=cached_system("Short prompt."), messages=HELLO
        )
        assert message.usage.cache_creation_input_tokens == 0
        assert message.usage.cache_read_input_tokens == 0


def test_automatic_caching_marks_the_last_block() -> None:
    store = simulator.MemoryStore()
    body = {"model": MODEL, "max_tokens": 10, "system": LESSON, "messages": HELLO}
    body["cache_control"] = {"type": "ephemeral"}
    assert simulator.usage(body, model_data(), store)["cache_creation_input_tokens"] > 600
    assert simulator.usage(body, model_data(), store)["cache_read_input_tokens"] > 600


def test_a_cache_entry_expires_after_its_ttl() -> None:
    now = [0.0]
    store = simulator.MemoryStore(clock=lambda: now[0])
    body = {"model": MODEL, "max_tokens": 10, "system": cached_system(), "messages": HELLO}
    assert simulator.usage(body, model_data(), store)["cache_creation_input_tokens"] == 600
    now[0] = 299.0
    assert simulator.usage(body, model_data(), store)["cache_read_input_tokens"] == 600
    now[0] = 299.0 + 301  # the read refreshed it for 5 minutes, which have now passed
    assert simulator.usage(body, model_data(), store)["cache_creation_input_tokens"] == 600
    now[0] += 301  # let the 5-minute entry lapse
    hour = {**body, "system": cached_system(ttl="1h")}
    assert simulator.usage(hour, model_data(), store)["cache_creation"] == {
        "ephemeral_5m_input_tokens": 0,
        "ephemeral_1h_input_tokens": 600,
    }
    now[0] += 3000
    assert simulator.usage(hour, model_data(), store)["cache_read_input_tokens"] == 600


def test_a_different_model_does_not_share_the_cache() -> None:
    store = simulator.MemoryStore()
    body = {"model": MODEL, "max_tokens": 10, "system": cached_system(), "messages": HELLO}
    simulator.usage(body, model_data(), store)
    other = simulator.usage({**body, "model": "claude-opus-5-5"}, model_data(), store)
    assert other["cache_read_input_tokens"] == 0
