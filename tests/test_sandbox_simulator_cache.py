"""The simulator's prompt cache by level (tools -> system -> messages) and its cache diagnostics,
read through the SDK's own response types."""

from __future__ import annotations

from typing import Any

import anthropic
import pytest

from course.model_catalogue import estimate_tokens, model_data
from course.sandbox import simulator

MODEL = "claude-haiku-5-5"  # 512-token minimum
EPHEMERAL = {"type": "ephemeral"}
# Each level holds 2,400 characters = 800 estimated tokens, above the 512-token minimum.
TOOL = {
    "name": "search_handbook",
    "description": "Search the handbook. " * 114 + "Returns pages.",  # 2,400 characters
    "input_schema": {"type": "object", "properties": {"query": {"type": "string"}}},
    "cache_control": EPHEMERAL,
}
SYSTEM_TEXT = "You answer from the handbook. " * 80  # 2,400 characters
QUESTION = "Here is my draft to review. " * 85 + "What do you think?"


def body(**changes: Any) -> dict[str, Any]:
    base = {
        "model": MODEL,
        "max_tokens": 50,
        "tools": [TOOL],
        "system": [{"type": "text", "text": SYSTEM_TEXT, "cache_control": EPHEMERAL}],
        "messages": [
            {
                "role": "user",
                "content": [{"type": "text", "text": QUESTION, "cache_control": EPHEMERAL}],
            }
        ],
    }
    return {**base, **changes}


def run(store: simulator.MemoryStore, request: dict[str, Any]) -> anthropic.types.Message:
    outcome = simulator.simulate(request, model_data(), store, simulator.new_id("req_"))
    return anthropic.types.Message.model_validate(outcome.response)


@pytest.fixture
def store() -> simulator.MemoryStore:
    return simulator.MemoryStore()


def levels() -> tuple[int, int, int]:
    """The cumulative prefix sizes at the end of tools, of system and of messages."""
    first = simulator.usage(body(), model_data(), simulator.MemoryStore())
    tools_only = simulator.usage(
        body(system=None, messages=[{"role": "user", "content": "x"}]),
        model_data(),
        simulator.MemoryStore(),
    )
    tools = tools_only["cache_creation_input_tokens"]
    system = tools + estimate_tokens(SYSTEM_TEXT)
    return tools, system, first["cache_creation_input_tokens"]


def test_the_first_run_writes_each_level_and_the_same_request_reads_all_of_it(
    store: simulator.MemoryStore,
) -> None:
    _, _, everything = levels()
    first = run(store, body())
    assert first.usage.cache_creation_input_tokens == everything
    again = run(store, body())
    assert again.usage.cache_read_input_tokens == everything
    assert again.usage.cache_creation_input_tokens == 0


@pytest.mark.parametrize(
    "change",
    [
        {"tool_choice": {"type": "any"}},
        {"tool_choice": {"type": "auto", "disable_parallel_tool_use": True}},
        {"thinking": {"type": "adaptive"}, "max_tokens": 500},
    ],
    ids=["tool_choice", "parallel use", "thinking"],
)
def test_tool_choice_and_thinking_changes_invalidate_the_messages_level_only(
    store: simulator.MemoryStore, change: dict
) -> None:
    _, system, everything = levels()
    run(store, body())
    changed = run(store, body(**change))
    assert changed.usage.cache_read_input_tokens == system
    assert changed.usage.cache_creation_input_tokens == everything - system


def test_an_image_added_to_a_later_turn_invalidates_the_earlier_messages(
    store: simulator.MemoryStore,
) -> None:
    _, system, everything = levels()
    image = {
        "type": "image",
        "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="},
    }
    turns = body()["messages"]
    text_turn = [*turns, {"role": "assistant", "content": "Noted."}]
    run(store, body(messages=[*text_turn, {"role": "user", "content": "And this?"}]))
    with_image = [*text_turn, {"role": "user", "content": [image, {"type": "text", "text": "?"}]}]
    changed = run(store, body(messages=with_image))
    assert changed.usage.cache_read_input_tokens == system


def test_a_system_change_keeps_the_tools_level_and_a_tools_change_keeps_nothing(
    store: simulator.MemoryStore,
) -> None:
    tools, _, _ = levels()
    run(store, body())
    new_system = [
        {"type": "text", "text": SYSTEM_TEXT + " Today is Monday.", "cache_control": EPHEMERAL}
    ]
    assert run(store, body(system=new_system)).usage.cache_read_input_tokens == tools
    renamed = {**TOOL, "name": "search_manual"}
    assert run(store, body(tools=[renamed])).usage.cache_read_input_tokens == 0


def test_each_model_caches_from_its_own_minimum_and_a_dated_snapshot_shares_it(
    store: simulator.MemoryStore,
) -> None:
    small = body(tools=None, system=SYSTEM_TEXT, cache_control=EPHEMERAL)  # ~1,200 tokens
    assert run(store, small).usage.cache_creation_input_tokens > 0  # Haiku 5.5: 512
    for model in ("claude-haiku-4-5", "claude-haiku-4-5-20251001"):  # Haiku 4.5: 4,096
        older = run(store, {**small, "model": model})
        assert older.usage.cache_creation_input_tokens == 0
        assert older.usage.cache_read_input_tokens == 0


@pytest.mark.parametrize(("blocks_after", "read"), [(19, True), (20, False)])
def test_the_lookback_reaches_twenty_block_boundaries_before_a_breakpoint(
    store: simulator.MemoryStore, blocks_after: int, read: bool
) -> None:
    system = [{"type": "text", "text": SYSTEM_TEXT, "cache_control": EPHEMERAL}]
    run(store, body(tools=None, system=system, messages=[{"role": "user", "content": "Hi"}]))
    short = [{"type": "text", "text": f"Note {n}."} for n in range(blocks_after)]
    short[-1] = {**short[-1], "cache_control": EPHEMERAL}
    later = run(
        store, body(tools=None, system=SYSTEM_TEXT, messages=[{"role": "user", "content": short}])
    )
    expected = estimate_tokens(SYSTEM_TEXT) if read else 0
    assert later.usage.cache_read_input_tokens == expected


# -- cache diagnostics ----------------------------------------------------------------------------


def diagnosed(store: simulator.MemoryStore, previous: str | None, **changes: Any) -> Any:
    message = run(store, body(diagnostics={"previous_message_id": previous}, **changes))
    return message.diagnostics


def test_the_first_turn_opts_in_and_gets_no_diagnosis(store: simulator.MemoryStore) -> None:
    assert diagnosed(store, None) is None
    assert run(store, body()).diagnostics is None  # not asked


def test_an_unknown_previous_message_is_reported_as_not_found(
    store: simulator.MemoryStore,
) -> None:
    reason = diagnosed(store, "msg_0000000000000000000000000").cache_miss_reason
    assert reason.type == "previous_message_not_found"


def test_a_timestamp_in_the_system_prompt_is_reported_as_system_changed(
    store: simulator.MemoryStore,
) -> None:
    _, _, everything = levels()
    first = run(store, body(diagnostics={"previous_message_id": None}))
    stamped = [
        {"type": "text", "text": f"{SYSTEM_TEXT} Now: 12:01:07.", "cache_control": EPHEMERAL}
    ]
    diagnostics = diagnosed(store, first.id, system=stamped)
    assert diagnostics.cache_miss_reason.type == "system_changed"
    tools, _, _ = levels()
    assert diagnostics.cache_miss_reason.cache_missed_input_tokens == everything - tools


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"model": "claude-opus-5-5"}, "model_changed"),
        ({"tools": [{**TOOL, "description": "Search."}]}, "tools_changed"),
        (
            {"messages": [{"role": "user", "content": "A different first question."}]},
            "messages_changed",
        ),
    ],
)
def test_the_first_level_that_changed_names_the_reason(
    store: simulator.MemoryStore, change: dict, reason: str
) -> None:
    first = run(store, body())
    found = diagnosed(store, first.id, **change).cache_miss_reason
    assert found.type == reason
    assert found.cache_missed_input_tokens > 0


def test_appending_turns_is_not_a_change(store: simulator.MemoryStore) -> None:
    first = run(store, body())
    reply = {"role": "assistant", "content": first.model_dump(exclude_none=True)["content"]}
    history = [*body()["messages"], reply, {"role": "user", "content": "Thanks!"}]
    assert diagnosed(store, first.id, messages=history) is None


def test_only_tool_choice_differing_gets_no_diagnosis(store: simulator.MemoryStore) -> None:
    first = run(store, body())
    reason = diagnosed(store, first.id, tool_choice={"type": "any"}).cache_miss_reason
    assert reason.type == "unavailable"


def test_a_learner_cannot_diagnose_against_a_classmates_message() -> None:
    mine, theirs = simulator.DjangoCacheStore("1"), simulator.DjangoCacheStore("2")
    first = simulator.simulate(body(), model_data(), theirs, "req_1").response
    same_learner = simulator.simulate(
        body(diagnostics={"previous_message_id": first["id"]}), model_data(), theirs, "req_2"
    ).response
    assert same_learner["diagnostics"] is None
    other = simulator.simulate(
        body(diagnostics={"previous_message_id": first["id"]}), model_data(), mine, "req_3"
    ).response
    assert other["diagnostics"] == {"cache_miss_reason": {"type": "previous_message_not_found"}}
