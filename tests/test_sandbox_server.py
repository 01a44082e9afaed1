"""The simulator served over HTTP (`make simulator`), driven by the official SDK."""

from __future__ import annotations

import http.client
import json
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import anthropic
import pytest

from course.sandbox import simulator
from course.sandbox.http1 import Exchange
from course.sandbox.server import MessagesServer

MODEL = "claude-haiku-5-5"
HELLO = [{"role": "user", "content": "Explain what an HTTP header is in one paragraph."}]
HANDBOOK = "The handbook says what every plan includes and what it costs. " * 60
LIFECYCLE = {"current": "active", "legacy": "active", "deprecated": "deprecated"}


@pytest.fixture
def server() -> Iterator[MessagesServer]:
    with MessagesServer() as served:
        yield served


@pytest.fixture
def client(server: MessagesServer) -> Iterator[anthropic.Anthropic]:
    with anthropic.Anthropic(api_key="any", base_url=server.url, max_retries=0) as api:
        yield api


def cached_system() -> list[dict[str, Any]]:
    return [{"type": "text", "text": HANDBOOK, "cache_control": {"type": "ephemeral"}}]


def test_the_served_reply_is_the_sandboxs_simulated_reply(server, client):
    message = client.messages.create(model=MODEL, max_tokens=300, messages=HELLO)
    body = {"model": MODEL, "max_tokens": 300, "messages": HELLO}
    expected = simulator.simulate(body, server.model_data, simulator.MemoryStore(), "req_x")
    in_process = anthropic.types.Message.model_validate(expected.response)
    assert message.model_dump(exclude={"id"}) == in_process.model_dump(exclude={"id"})


def test_a_streamed_reply_rebuilds_the_same_message(client):
    created = client.messages.create(model=MODEL, max_tokens=300, messages=HELLO)
    with client.messages.stream(model=MODEL, max_tokens=300, messages=HELLO) as stream:
        text = "".join(stream.text_stream)
        streamed = stream.get_final_message()
    assert text == created.content[0].text
    assert streamed.model_dump(exclude={"id"}) == created.model_dump(exclude={"id"})


def test_the_prompt_cache_is_written_then_read_and_count_tokens_counts_it_all(client):
    first, second = (
        client.messages.create(model=MODEL, max_tokens=50, system=cached_system(), messages=HELLO)
        for _ in range(2)
    )
    assert first.usage.cache_creation_input_tokens > 0
    assert first.usage.cache_read_input_tokens == 0
    assert second.usage.cache_read_input_tokens == first.usage.cache_creation_input_tokens
    count = client.messages.count_tokens(model=MODEL, system=cached_system(), messages=HELLO)
    for usage in (first.usage, second.usage):
        cached = usage.cache_creation_input_tokens + usage.cache_read_input_tokens
        assert count.input_tokens == usage.input_tokens + cached


def test_it_lists_the_models_of_the_data_file(server, client):
    listed = {model.id: model for model in client.models.list()}
    assert list(listed) == [model.id for model in server.model_data.models]
    for model in server.model_data.models:
        assert listed[model.id].lifecycle == LIFECYCLE.get(model.status, "retired")
        assert listed[model.id].max_tokens == model.max_output
    assert client.models.retrieve(MODEL).display_name == server.model_data.get(MODEL).name
    with pytest.raises(anthropic.NotFoundError):
        client.models.retrieve("claude-nope")


def test_a_refused_request_gets_the_validators_error_and_its_request_id(server):
    body = {"model": MODEL, "max_tokens": 50, "messages": HELLO, "temperature": 0.5}
    headers = {"x-api-key": "any", "anthropic-version": "2026-10-21"}
    connection = http.client.HTTPConnection(server.host, server.port, timeout=10)
    try:
        connection.request(
            "POST", "/v1/messages", json.dumps(body), headers | {"content-type": "application/json"}
        )
        response = connection.getresponse()
        error = json.loads(response.read())
    finally:
        connection.close()
    assert response.status == 400 and error["error"]["type"] == "invalid_request_error"
    assert "temperature" in error["error"]["message"]
    assert error["request_id"] == response.getheader("request-id")


class Failing(MessagesServer):
    async def answer(self, ex: Exchange, body: dict[str, Any]) -> bool:
        raise KeyError("a bug in the simulator")


def test_a_failure_inside_the_simulator_is_a_500_not_a_dropped_connection(caplog):
    with (
        Failing() as server,
        anthropic.Anthropic(api_key="any", base_url=server.url, max_retries=0) as client,
        pytest.raises(anthropic.InternalServerError) as caught,
    ):
        client.messages.create(model=MODEL, max_tokens=50, messages=HELLO)
    assert caught.value.status_code == 500 and caught.value.type == "api_error"
    assert "a bug in the simulator" in caplog.text


def test_make_simulator_serves_until_interrupted():
    process = subprocess.Popen(
        [sys.executable, "-m", "course.sandbox.server", "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        url = re.search(r"listening on (http://\S+)", process.stdout.readline()).group(1)
        with anthropic.Anthropic(api_key="any", base_url=url, max_retries=0) as client:
            message = client.messages.create(model=MODEL, max_tokens=50, messages=HELLO)
        assert message.type == "message" and message.content
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 0
    finally:
        process.kill()
        process.wait()
        process.stdout.close()


def test_curl_waiting_for_100_continue_gets_it(server):
    # curl asks before sending a larger body; without the interim answer it would wait a minute.
    body = {"model": MODEL, "max_tokens": 20, "messages": HELLO, "system": HANDBOOK}
    done = subprocess.run(
        ["curl", "--silent", "--expect100-timeout", "60", "--header", "Expect: 100-continue"]
        + ["--header", "x-api-key: any", "--header", "anthropic-version: 2026-10-21"]
        + ["--header", "content-type: application/json", "--data", json.dumps(body)]
        + [f"{server.url}/v1/messages"],
        capture_output=True,
        text=True,
        timeout=20,
    )
    assert json.loads(done.stdout)["type"] == "message"
