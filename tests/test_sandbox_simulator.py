"""The simulator, read by the official SDK through a tiny local server that serves its output.

The server answers every request without validating it (that is the validator's job, tested on
its own): these tests send only requests the API accepts.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import anthropic
import jsonschema
import pytest

from course.model_catalogue import estimate_tokens, model_data
from course.sandbox import simulator
from course.sandbox.simulator.schema import Context, instance

MODEL = "claude-haiku-5-5"
HELLO = [{"role": "user", "content": "How do I send my first request?"}]
# 2,400 characters = 800 estimated tokens: above Haiku 5.5's 512-token minimum.
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
    assert message.usage.input_tokens == estimate_tokens(HELLO[0]["content"])
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
    assert first.usage.cache_creation_input_tokens == 800
    assert first.usage.cache_read_input_tokens == 0
    assert first.usage.cache_creation.ephemeral_5m_input_tokens == 800
    with client.messages.stream(
        model=MODEL, max_tokens=50, system=cached_system(), messages=HELLO
    ) as stream:
        second = stream.get_final_message()
    assert second.usage.cache_creation_input_tokens == 0
    assert second.usage.cache_read_input_tokens == 800
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
    assert simulator.usage(body, model_data(), store)["cache_creation_input_tokens"] > 800
    assert simulator.usage(body, model_data(), store)["cache_read_input_tokens"] > 800


def test_a_cache_entry_expires_after_its_ttl() -> None:
    now = [0.0]
    store = simulator.MemoryStore(clock=lambda: now[0])
    body = {"model": MODEL, "max_tokens": 10, "system": cached_system(), "messages": HELLO}
    assert simulator.usage(body, model_data(), store)["cache_creation_input_tokens"] == 800
    now[0] = 299.0
    assert simulator.usage(body, model_data(), store)["cache_read_input_tokens"] == 800
    now[0] = 299.0 + 301  # the read refreshed it for 5 minutes, which have now passed
    assert simulator.usage(body, model_data(), store)["cache_creation_input_tokens"] == 800
    now[0] += 301  # let the 5-minute entry lapse
    hour = {**body, "system": cached_system(ttl="1h")}
    assert simulator.usage(hour, model_data(), store)["cache_creation"] == {
        "ephemeral_5m_input_tokens": 0,
        "ephemeral_1h_input_tokens": 800,
    }
    now[0] += 3000
    assert simulator.usage(hour, model_data(), store)["cache_read_input_tokens"] == 800


def test_a_different_model_does_not_share_the_cache() -> None:
    store = simulator.MemoryStore()
    body = {"model": MODEL, "max_tokens": 10, "system": cached_system(), "messages": HELLO}
    simulator.usage(body, model_data(), store)
    other = simulator.usage({**body, "model": "claude-opus-5-5"}, model_data(), store)
    assert other["cache_read_input_tokens"] == 0


# -- the reply follows the format the prompt asks for ------------------------------------------


def reply(client: anthropic.Anthropic, user: str, **extra: object) -> str:
    message = client.messages.create(
        model=MODEL, max_tokens=400, messages=[{"role": "user", "content": user}], **extra
    )
    assert message.stop_reason == "end_turn"
    return "".join(block.text for block in message.content if block.type == "text")


def test_a_prose_reply_says_it_is_simulated_and_quotes_the_question_grammatically(
    client: anthropic.Anthropic,
) -> None:
    text = reply(client, "Explain what an HTTP header is.")
    assert text.startswith("(Simulated reply:")
    assert re.search(r"You asked “Explain what an HTTP header is\.”\s+A model would", text)
    assert ".”." not in text


def test_numbered_steps_asked_for_in_the_system_prompt_come_back_numbered(
    client: anthropic.Anthropic,
) -> None:
    system = "You are a support assistant. Answer procedures in numbered steps."
    text = reply(client, "Where do I change my password?", system=system)
    assert re.search(r"(?m)^1\. .+\n2\. .+\n3\. ", text)


def test_a_bulleted_list_comes_back_as_dash_items(client: anthropic.Anthropic) -> None:
    text = reply(client, "Give me a bulleted list of caching tips.")
    assert len(re.findall(r"(?m)^- \S", text)) == 3
    assert not re.search(r"(?m)^\d+\.", text)


def test_one_paragraph_comes_back_as_one_paragraph(client: anthropic.Anthropic) -> None:
    text = reply(client, "In one paragraph, what is a token?")
    assert "\n" not in text and text.endswith(".")


def test_one_sentence_comes_back_as_one_labelled_sentence(client: anthropic.Anthropic) -> None:
    text = reply(client, "In one sentence, what is a token?")
    assert text.startswith("This simulated sentence comes from fixed rules")
    assert text.count(".") == 1 and text.endswith(".")


def test_a_single_label_request_gets_one_of_the_listed_labels(
    client: anthropic.Anthropic,
) -> None:
    system = "You classify tickets. Reply with exactly one label: bug, feature or question."
    assert reply(client, "The export button crashes.", system=system) == "bug"
    assert reply(client, "What is the capital of France? Answer with one word.") == "Simulated"


def test_a_json_request_gets_json(client: anthropic.Anthropic) -> None:
    parsed = json.loads(reply(client, "Describe prompt caching as JSON."))
    assert parsed["simulated"] is True
    assert parsed["question"] == "Describe prompt caching as JSON."


def test_a_poem_request_gets_verse_of_the_asked_length_not_a_list(
    client: anthropic.Anthropic,
) -> None:
    text = reply(client, "Write a two-line poem about tea.")
    assert text.splitlines() == [
        "A simulated verse about tea,",
        "written by rules and not by a model;",
    ]


# -- the stream and the final message always carry the same content ------------------------------


def streamed_and_plain(client: anthropic.Anthropic, **body: object) -> tuple[Any, Any]:
    plain = client.messages.create(**body)
    with client.messages.stream(**body) as stream:
        final = stream.get_final_message()
    return plain, final


def same_content(plain: Any, final: Any) -> None:
    """Equal but for the ids the API draws at random."""

    def bare(message: Any) -> list[dict]:
        return [
            {k: v for k, v in block.model_dump(exclude_none=True).items() if k != "id"}
            for block in message.content
        ]

    assert bare(plain) == bare(final)
    assert (plain.stop_reason, plain.stop_sequence) == (final.stop_reason, final.stop_sequence)
    assert plain.usage.output_tokens == final.usage.output_tokens


def test_text_cut_by_a_stop_sequence_is_the_same_in_the_stream_and_the_message(
    client: anthropic.Anthropic,
) -> None:
    prompt = [{"role": "user", "content": "Write a poem, then ### on its own line, then explain."}]
    plain, final = streamed_and_plain(
        client, model=MODEL, max_tokens=300, messages=prompt, stop_sequences=["###"]
    )
    assert plain.content[0].text.endswith("\n\n")  # the whitespace before the marker stays
    same_content(plain, final)
    assert final.stop_sequence == "###"


# -- tool use -------------------------------------------------------------------------------------

WEATHER = {
    "name": "get_weather",
    "description": "Current weather for a city.",
    "input_schema": {
        "type": "object",
        "properties": {
            "location": {"type": "string", "description": "City name"},
            "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
            "days": {"type": "integer", "minimum": 1, "maximum": 7},
        },
        "required": ["location", "unit"],
        "additionalProperties": False,
    },
}
ORDERS = {
    "name": "lookup_order",
    "description": "Find an order by its number.",
    "input_schema": {
        "type": "object",
        "properties": {
            "order": {
                "type": "object",
                "properties": {
                    "number": {"type": "string"},
                    "items": {"type": "array", "items": {"type": "string"}, "minItems": 2},
                },
                "required": ["number", "items"],
                "additionalProperties": False,
            },
            "express": {"type": "boolean"},
        },
        "required": ["order"],
        "additionalProperties": False,
    },
}
TOOLS = [WEATHER, ORDERS]
ASK_BOTH = [{"role": "user", "content": "What's the weather in Paris for 3 days, and my order?"}]


def calls(message: Any) -> list[Any]:
    return [block for block in message.content if block.type == "tool_use"]


def valid_inputs(message: Any) -> None:
    schemas = {tool["name"]: tool["input_schema"] for tool in TOOLS}
    for call in calls(message):
        jsonschema.validate(call.input, schemas[call.name])


def test_a_forced_tool_is_called_with_input_valid_against_its_schema(
    client: anthropic.Anthropic,
) -> None:
    message = client.messages.create(
        model=MODEL,
        max_tokens=300,
        tools=TOOLS,
        tool_choice={"type": "tool", "name": "lookup_order"},
        messages=[{"role": "user", "content": "Hello there."}],
    )
    assert message.stop_reason == "tool_use"
    assert [block.type for block in message.content] == ["tool_use"]  # forced: no preamble
    (call,) = calls(message)
    assert call.id.startswith("toolu_") and call.name == "lookup_order"
    valid_inputs(message)
    assert len(call.input["order"]["items"]) == 2


def test_any_calls_a_tool_even_when_the_turn_names_none(client: anthropic.Anthropic) -> None:
    message = client.messages.create(
        model=MODEL,
        max_tokens=300,
        tools=TOOLS,
        tool_choice={"type": "any"},
        messages=[{"role": "user", "content": "Hello there."}],
    )
    assert message.stop_reason == "tool_use"
    assert [call.name for call in calls(message)] == ["get_weather"]
    valid_inputs(message)


def test_auto_calls_the_tool_the_turn_asks_for_with_values_from_the_turn(
    client: anthropic.Anthropic,
) -> None:
    message = client.messages.create(
        model=MODEL,
        max_tokens=300,
        tools=TOOLS,
        messages=[{"role": "user", "content": "What's the weather in Paris in fahrenheit?"}],
    )
    assert message.stop_reason == "tool_use"
    assert message.content[0].type == "text"  # auto may explain itself first
    (call,) = calls(message)
    assert call.input["location"] == "Paris" and call.input["unit"] == "fahrenheit"
    valid_inputs(message)


def test_auto_answers_in_text_when_the_turn_asks_for_no_tool(client: anthropic.Anthropic) -> None:
    message = client.messages.create(
        model=MODEL, max_tokens=300, tools=TOOLS, messages=[{"role": "user", "content": "Hi!"}]
    )
    assert message.stop_reason == "end_turn" and not calls(message)


def test_tool_choice_none_never_calls_a_tool(client: anthropic.Anthropic) -> None:
    message = client.messages.create(
        model=MODEL, max_tokens=300, tools=TOOLS, tool_choice={"type": "none"}, messages=ASK_BOTH
    )
    assert message.stop_reason == "end_turn" and not calls(message)


def test_several_asked_for_tools_are_each_called_unless_parallel_use_is_disabled(
    client: anthropic.Anthropic,
) -> None:
    both = client.messages.create(model=MODEL, max_tokens=300, tools=TOOLS, messages=ASK_BOTH)
    assert [call.name for call in calls(both)] == ["get_weather", "lookup_order"]
    assert both.stop_reason == "tool_use"
    valid_inputs(both)
    assert calls(both)[0].input["days"] == 3
    one = client.messages.create(
        model=MODEL,
        max_tokens=300,
        tools=TOOLS,
        tool_choice={"type": "auto", "disable_parallel_tool_use": True},
        messages=ASK_BOTH,
    )
    assert [call.name for call in calls(one)] == ["get_weather"]


def test_a_tool_result_gets_a_text_answer_that_uses_it(client: anthropic.Anthropic) -> None:
    ask = [{"role": "user", "content": "What's the weather in Paris?"}]
    first = client.messages.create(model=MODEL, max_tokens=300, tools=TOOLS, messages=ask)
    (call,) = calls(first)
    result = {"type": "tool_result", "tool_use_id": call.id, "content": "15°C and sunny"}
    history = [*ask, first.to_param(), {"role": "user", "content": [result]}]
    answer = client.messages.create(model=MODEL, max_tokens=300, tools=TOOLS, messages=history)
    assert answer.stop_reason == "end_turn"
    assert "The get_weather tool returned “15°C and sunny”." in answer.content[0].text


def test_a_streamed_tool_call_arrives_as_input_json_deltas(client: anthropic.Anthropic) -> None:
    body = {"model": MODEL, "max_tokens": 300, "tools": TOOLS, "messages": ASK_BOTH}
    with client.messages.with_streaming_response.create(**body, stream=True) as response:
        lines = [line for line in response.iter_lines() if line.startswith("data: ")]
    events = [json.loads(line.removeprefix("data: ")) for line in lines]
    starts = [e["content_block"] for e in events if e["type"] == "content_block_start"]
    assert starts[1] == {
        "type": "tool_use",
        "id": starts[1]["id"],
        "name": "get_weather",
        "input": {},
    }
    partial = "".join(
        e["delta"]["partial_json"]
        for e in events
        if e["type"] == "content_block_delta" and e["index"] == 1
    )
    assert json.loads(partial)["location"] == "Paris"
    plain, final = streamed_and_plain(client, **body)
    same_content(plain, final)
    assert final.stop_reason == "tool_use"


def test_a_tool_call_that_does_not_fit_in_max_tokens_is_not_made(
    client: anthropic.Anthropic,
) -> None:
    message = client.messages.create(
        model=MODEL,
        max_tokens=3,
        tools=TOOLS,
        tool_choice={"type": "tool", "name": "lookup_order"},
        messages=ASK_BOTH,
    )
    assert message.stop_reason == "max_tokens"
    assert not calls(message)


# -- structured outputs ---------------------------------------------------------------------------

SCHEMAS = {
    "flat with enum": {
        "type": "object",
        "properties": {
            "label": {"type": "string", "enum": ["bug", "feature", "question"]},
            "confidence": {"type": "number", "minimum": 0, "maximum": 1},
        },
        "required": ["label", "confidence"],
        "additionalProperties": False,
    },
    "nested objects and arrays": {
        "type": "object",
        "properties": {
            "title": {"type": "string", "minLength": 3, "maxLength": 40},
            "steps": {
                "type": "array",
                "minItems": 2,
                "items": {
                    "type": "object",
                    "properties": {"n": {"type": "integer"}, "text": {"type": "string"}},
                    "required": ["n", "text"],
                    "additionalProperties": False,
                },
            },
            "tags": {"type": "array", "items": {"enum": ["a", "b"]}, "uniqueItems": True},
        },
        "required": ["title", "steps"],
        "additionalProperties": False,
    },
    "refs, unions and formats": {
        "$defs": {
            "person": {
                "type": "object",
                "properties": {"name": {"type": "string"}, "email": {"format": "email"}},
                "required": ["name", "email"],
                "additionalProperties": False,
            }
        },
        "type": "object",
        "properties": {
            "author": {"$ref": "#/$defs/person"},
            "when": {"type": "string", "format": "date"},
            "score": {"anyOf": [{"type": "integer", "multipleOf": 5}, {"type": "null"}]},
            "note": {"type": ["string", "null"]},
        },
        "required": ["author", "when", "score", "note"],
        "additionalProperties": False,
    },
    "allOf, bounds, tuples and patterns": {
        "allOf": [
            {"properties": {"id": {"pattern": "^[A-Z][0-9]$"}}},
            {"required": ["id", "ratio", "pair", "kind"]},
        ],
        "type": "object",
        "properties": {
            "id": {"type": "string"},
            "ratio": {"type": "number", "exclusiveMinimum": 2, "maximum": 3},
            "pair": {"type": "array", "prefixItems": [{"type": "integer"}, {"const": "x"}]},
            "kind": {"const": "fixed"},
            "meta": {"type": "object", "minProperties": 1},
        },
        "additionalProperties": False,
    },
}


@pytest.mark.parametrize("name", SCHEMAS)
def test_a_structured_output_is_json_valid_against_its_schema(
    client: anthropic.Anthropic, name: str
) -> None:
    body = {
        "model": MODEL,
        "max_tokens": 500,
        "messages": [{"role": "user", "content": "Classify: the app is a question of taste."}],
        "output_config": {"format": {"type": "json_schema", "schema": SCHEMAS[name]}},
    }
    plain, final = streamed_and_plain(client, **body)
    assert [block.type for block in plain.content] == ["text"]
    jsonschema.validate(json.loads(plain.content[0].text), SCHEMAS[name])
    same_content(plain, final)


def test_an_enum_value_the_turn_names_is_chosen(client: anthropic.Anthropic) -> None:
    message = client.messages.create(
        model=MODEL,
        max_tokens=500,
        messages=[{"role": "user", "content": "Classify: is this a feature?"}],
        output_config={"format": {"type": "json_schema", "schema": SCHEMAS["flat with enum"]}},
    )
    assert json.loads(message.content[0].text)["label"] == "feature"


# -- thinking -------------------------------------------------------------------------------------


def test_thinking_comes_first_with_a_signature_in_the_stream_and_the_message(
    client: anthropic.Anthropic,
) -> None:
    body = {
        "model": MODEL,
        "max_tokens": 2048,
        "thinking": {"type": "enabled", "budget_tokens": 1024},
        "messages": HELLO,
    }
    plain, final = streamed_and_plain(client, **body)
    assert [block.type for block in plain.content] == ["thinking", "text"]
    assert plain.content[0].thinking.startswith("Simulated thinking:")
    assert plain.content[0].signature
    same_content(plain, final)
    with client.messages.with_streaming_response.create(**body, stream=True) as response:
        deltas = [
            json.loads(line.removeprefix("data: "))["delta"]["type"]
            for line in response.iter_lines()
            if line.startswith("data: ") and '"content_block_delta"' in line
        ]
    assert deltas[0] == "thinking_delta"
    assert deltas.index("signature_delta") == deltas.index("text_delta") - 1


def test_thinking_passed_back_in_the_history_is_accepted(client: anthropic.Anthropic) -> None:
    body = {"model": MODEL, "max_tokens": 2048, "thinking": {"type": "adaptive"}}
    first = client.messages.create(**body, messages=HELLO)
    history = [*HELLO, first.to_param(), {"role": "user", "content": "And then?"}]
    second = client.messages.create(**body, messages=history)
    assert second.content[0].type == "thinking"
    assert second.usage.input_tokens > first.usage.input_tokens


def test_omitted_thinking_keeps_the_signature_but_not_the_text(
    client: anthropic.Anthropic,
) -> None:
    message = client.messages.create(
        model=MODEL,
        max_tokens=500,
        thinking={"type": "adaptive", "display": "omitted"},
        messages=HELLO,
    )
    assert message.content[0].thinking == "" and message.content[0].signature


def test_thinking_that_fills_max_tokens_leaves_no_text(client: anthropic.Anthropic) -> None:
    message = client.messages.create(
        model=MODEL, max_tokens=10, thinking={"type": "adaptive"}, messages=HELLO
    )
    assert [block.type for block in message.content] == ["thinking"]
    assert message.stop_reason == "max_tokens" and message.usage.output_tokens == 10


def test_between_tools_thinking_appears_only_when_answering_tool_results(
    client: anthropic.Anthropic,
) -> None:
    body = {"model": MODEL, "max_tokens": 500, "tools": TOOLS}
    ask = [{"role": "user", "content": "What's the weather in Paris?"}]
    first = client.messages.create(**body, thinking={"type": "between_tools"}, messages=ask)
    assert first.content[0].type == "text" and calls(first)
    result = {"type": "tool_result", "tool_use_id": calls(first)[0].id, "content": "Sunny"}
    history = [*ask, first.to_param(), {"role": "user", "content": [result]}]
    second = client.messages.create(**body, thinking={"type": "between_tools"}, messages=history)
    assert [block.type for block in second.content] == ["thinking", "text"]


def test_a_prefilled_reply_carries_on_from_the_prefill(client: anthropic.Anthropic) -> None:
    message = client.messages.create(
        model="claude-haiku-4-5",  # older models still accept prefill
        max_tokens=300,
        messages=[
            {"role": "user", "content": "Describe caching as JSON."},
            {"role": "assistant", "content": "{"},
        ],
    )
    assert json.loads("{" + message.content[0].text)["simulated"] is True


def test_the_sdk_sends_diagnostics_and_reads_the_reason(client: anthropic.Anthropic) -> None:
    system = [{"type": "text", "text": LESSON, "cache_control": {"type": "ephemeral"}}]
    body = {"model": MODEL, "max_tokens": 50, "messages": HELLO}
    first = client.messages.create(**body, system=system, diagnostics={"previous_message_id": None})
    assert first.diagnostics is None
    stamped = [{**system[0], "text": LESSON + " It is 09:14."}]
    second = client.messages.create(
        **body, system=stamped, diagnostics={"previous_message_id": first.id}
    )
    reason = second.diagnostics.cache_miss_reason
    assert reason.type == "system_changed"
    assert reason.cache_missed_input_tokens == first.usage.cache_creation_input_tokens == 800


def test_a_block_the_simulator_never_writes_streams_whole_at_its_start() -> None:
    block = {"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search", "input": {}}
    message = {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": MODEL,
        "content": [block],
        "stop_reason": "pause_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": 5, "output_tokens": 3},
    }
    events = [e["data"] for e in simulator.stream_events(message, message["usage"])]
    assert [e["type"] for e in events] == [
        "message_start",
        "content_block_start",
        "ping",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    assert events[1]["content_block"] == block


FRAGMENTS = [
    {"type": "string"},
    {"type": "string", "minLength": 30},
    {"type": "string", "maxLength": 2},
    {"type": "string", "format": "date-time"},
    {"type": "string", "format": "uuid"},
    {"type": "string", "pattern": "^[0-9]+$"},
    {"type": "integer", "minimum": 10, "maximum": 12},
    {"type": "integer", "exclusiveMaximum": 0},
    {"type": "number", "multipleOf": 0.5, "minimum": 7.2},
    {"type": "boolean"},
    {"type": "null"},
    {"enum": ["red", "green", 3]},
    {"const": {"fixed": [1, 2]}},
    {"type": ["integer", "null"], "minimum": 5},
    {"type": "array", "items": {"type": "integer"}, "minItems": 3, "uniqueItems": True},
    {"type": "array", "maxItems": 0},
    {"type": "object", "additionalProperties": {"type": "integer"}, "minProperties": 2},
    {"oneOf": [{"type": "string", "enum": ["x"]}, {"type": "integer"}]},
]


@pytest.mark.parametrize("fragment", FRAGMENTS, ids=[json.dumps(f) for f in FRAGMENTS])
def test_every_schema_fragment_gets_a_valid_value_alone_nested_and_in_an_array(
    fragment: dict,
) -> None:
    context = Context("Order 42 for Ada in Paris, please.")
    for schema in (
        fragment,
        {
            "type": "object",
            "properties": {"inner": {"type": "object", "properties": {"value": fragment}}},
            "required": ["inner"],
            "additionalProperties": False,
        },
        {"type": "array", "items": fragment, "minItems": 2},
    ):
        jsonschema.validate(instance(schema, context), schema)
