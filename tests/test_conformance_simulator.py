"""The conformance table's valid rows, answered by the simulator in process: every response
parses as the SDK's Message, the stream rebuilds the same message with the SDK's own
accumulator, and each row's `expect` holds. (Invalid rows are the validator's; the same rows
over HTTP with the SDK as the client are the HTTP server's.)"""

from __future__ import annotations

import json
from typing import Any

import anthropic
import jsonschema
import pytest
from anthropic.lib.streaming._messages import accumulate_event

from course.model_catalogue import model_data
from course.sandbox import simulator
from tests.conformance.table import Row, rows

VALID = [row for row in rows() if row.api.status == 200]


def answer(body: dict[str, Any], stream: bool) -> simulator.Outcome:
    request = {**body, "stream": stream}
    return simulator.simulate(request, model_data(), simulator.MemoryStore(), "req_conformance")


def rebuilt(events: list[dict[str, Any]]) -> dict[str, Any]:
    snapshot, buffers = None, {}
    for event in events:
        if event["event"] != "ping":
            snapshot = accumulate_event(
                event=event["data"], current_snapshot=snapshot, json_bufs=buffers
            )
    assert snapshot is not None
    return snapshot.model_dump(exclude_none=True)


def no_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: no_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [no_nulls(v) for v in value]
    return value


def without_ids(message: dict[str, Any]) -> dict[str, Any]:
    content = [{k: v for k, v in block.items() if k != "id"} for block in message["content"]]
    return {**{k: v for k, v in message.items() if k != "id"}, "content": content}


def check_expect(row: Row, message: dict[str, Any]) -> None:
    expect, content = row.expect, message["content"]
    calls = [block for block in content if block["type"] == "tool_use"]
    text = "".join(block["text"] for block in content if block["type"] == "text")
    if "stop_reason" in expect:
        assert message["stop_reason"] == expect["stop_reason"]
    if "content_types" in expect:
        assert [block["type"] for block in content] == expect["content_types"]
    if "tool_use_name" in expect:
        assert calls and {call["name"] for call in calls} == {expect["tool_use_name"]}
    if "tool_use_count" in expect:
        assert len(calls) == expect["tool_use_count"]
    if expect.get("tool_input_valid"):
        schemas = {tool["name"]: tool["input_schema"] for tool in row.body["tools"]}
        assert calls
        for call in calls:
            jsonschema.validate(call["input"], schemas[call["name"]])
    if expect.get("json_valid_against_schema"):
        jsonschema.validate(json.loads(text), row.body["output_config"]["format"]["schema"])
    if "stop_sequence" in expect:
        assert message["stop_sequence"] == expect["stop_sequence"]
    if expect.get("thinking_signature"):
        thinking = [block for block in content if block["type"] == "thinking"]
        assert thinking and all(block["signature"] for block in thinking)
    if "text_contains" in expect:
        assert expect["text_contains"] in text


@pytest.mark.parametrize("row", VALID, ids=[row.test_id for row in VALID])
def test_a_valid_row_gets_the_apis_shape_and_its_expected_content(row: Row) -> None:
    plain = answer(row.body, stream=False)
    assert plain.status == 200 and plain.events == []
    message = anthropic.types.Message.model_validate(plain.response)
    assert message.model_dump(exclude_none=True) == no_nulls(plain.response)  # nothing dropped
    check_expect(row, plain.response)
    streamed = answer(row.body, stream=True)
    sdk_final = rebuilt(streamed.events)
    assert sdk_final == anthropic.types.Message.model_validate(streamed.response).model_dump(
        exclude_none=True
    )
    assert without_ids(sdk_final) == without_ids(message.model_dump(exclude_none=True))


def test_the_table_has_valid_rows_with_expectations() -> None:
    assert len(VALID) >= 5
    assert sum(bool(row.expect) for row in VALID) >= 5
