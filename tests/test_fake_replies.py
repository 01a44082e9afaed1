"""The fake API's answers that the lesson examples rely on, through the real SDK."""

from __future__ import annotations

import json
from collections.abc import Iterator

import anthropic
import pytest

from tests.fake_anthropic import FakeAnthropic, Reply

MODELS = [
    {
        "type": "model",
        "id": "claude-haiku-5-5",
        "display_name": "Claude Haiku 5.5",
        "created_at": "2026-10-07T00:00:00Z",
        "lifecycle": "active",
    }
]


@pytest.fixture
def fake():
    with FakeAnthropic(models=MODELS) as server:
        yield server


@pytest.fixture
def client(fake) -> Iterator[anthropic.Anthropic]:
    # Closed after each test: a client left to the garbage collector leaks its sockets.
    with anthropic.Anthropic(api_key="sk-test", base_url=fake.url, max_retries=0) as api:
        yield api


def test_a_stop_sequence_ends_the_reply_before_it_and_is_reported(fake, client):
    fake.default = Reply(text="A poem about tea.\n###\nAn explanation.")
    message = client.messages.create(
        model="claude-haiku-5-5",
        max_tokens=100,
        stop_sequences=["###"],
        messages=[{"role": "user", "content": "x"}],
    )
    assert message.content[0].text == "A poem about tea.\n"
    assert (message.stop_reason, message.stop_sequence) == ("stop_sequence", "###")


def test_a_streamed_stop_sequence_is_reported_on_message_delta(fake, client):
    fake.default = Reply(text="one two ### three")
    with client.messages.stream(
        model="claude-haiku-5-5",
        max_tokens=100,
        stop_sequences=["###"],
        messages=[{"role": "user", "content": "x"}],
    ) as stream:
        message = stream.get_final_message()
    assert message.content[0].text == "one two "
    assert message.stop_sequence == "###"


def test_structured_outputs_get_json_that_fits_the_schema(fake, client):
    schema = {
        "type": "object",
        "properties": {
            "label": {"type": "string", "enum": ["bug", "feature"]},
            "score": {"type": "integer"},
            "tags": {"type": "array", "items": {"type": "string"}},
        },
    }
    message = client.messages.create(
        model="claude-haiku-5-5",
        max_tokens=100,
        output_config={"format": {"type": "json_schema", "schema": schema}},
        messages=[{"role": "user", "content": "Classify"}],
    )
    assert json.loads(message.content[0].text) == {"label": "bug", "score": 0, "tags": ["example"]}


def test_it_lists_and_describes_the_models_it_was_given(fake, client):
    api = client
    assert [model.id for model in api.models.list()] == ["claude-haiku-5-5"]
    assert api.models.retrieve("claude-haiku-5-5").lifecycle == "active"
    with pytest.raises(anthropic.NotFoundError):
        api.models.retrieve("claude-nope")
