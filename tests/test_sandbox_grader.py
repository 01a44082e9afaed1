"""The grader: every operator over {request, response, error, events}; malformed checks refused."""

from __future__ import annotations

from typing import Any

import pytest

from course.sandbox.grader import CheckInvalid, compile_check, error_field, field_in, grade

RUN: dict[str, Any] = {
    "request": {
        "model": "claude-haiku-5-5",
        "max_tokens": 20,
        "system": [{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}],
        "messages": [
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello!"},
            {"role": "user", "content": "And again?"},
        ],
    },
    "response": {
        "stop_reason": "max_tokens",
        "content": [{"type": "text", "text": "Here is a short answer about caching."}],
        "usage": {"input_tokens": 30, "cache_read_input_tokens": 600, "output_tokens": 20},
    },
    "error": None,
    "events": [{"event": "message_start", "data": {}}, {"event": "ping", "data": {}}],
}

CASES = [
    # (operator, expression, value that passes, value that fails)
    ("equals", "response.stop_reason", "max_tokens", "end_turn"),
    ("not_equals", "response.stop_reason", "end_turn", "max_tokens"),
    ("at_least", "length(request.messages)", 3, 4),
    ("at_most", "request.max_tokens", 20, 19),
    ("above", "response.usage.cache_read_input_tokens", 0, 600),
    ("below", "response.usage.output_tokens", 21, 20),
    ("exists", "request.system[-1].cache_control", True, False),
    ("contains", "response.content[0].text", "caching", "tokens"),
    ("contains", "events[].event", "ping", "error"),
    ("matches", "response.content[0].text", r"^Here is .+\.$", r"^\d+$"),
    ("one_of", "response.stop_reason", ["max_tokens", "stop_sequence"], ["end_turn"]),
]


@pytest.mark.parametrize(("operator", "expect", "good", "bad"), CASES)
def test_each_operator_passes_and_fails(operator: str, expect: str, good: Any, bad: Any) -> None:
    passing = compile_check({"expect": expect, operator: good, "message": "no"})
    failing = compile_check({"expect": expect, operator: bad, "message": "Not this time."})
    assert grade((passing,), RUN).passed
    verdict = grade((passing, failing), RUN)
    assert not verdict.passed
    assert verdict.message == "Not this time."
    assert verdict.failed_check == 1


def test_the_first_failing_check_decides_the_message() -> None:
    checks = tuple(
        compile_check({"expect": "error.type", "equals": "overloaded_error", "message": m})
        for m in ("First.", "Second.")
    )
    assert grade(checks, RUN).message == "First."


def test_a_missing_value_fails_numeric_checks_instead_of_crashing() -> None:
    check = compile_check({"expect": "error.status", "above": 0, "message": "No error yet."})
    assert not grade((check,), RUN).passed
    length = compile_check({"expect": "length(error.message)", "above": 0, "message": "x"})
    assert not grade((length,), RUN).passed  # length(null) is a JMESPath type error


def test_true_is_not_one() -> None:
    check = compile_check({"expect": "request.max_tokens", "equals": True, "message": "x"})
    assert not grade((check,), {"request": {"max_tokens": 1}}).passed


def test_the_first_failure_carries_its_part_and_field() -> None:
    checks = (
        compile_check({"expect": "request.max_tokens", "equals": 20, "message": "ok"}),
        compile_check(
            {
                "expect": "length(request.messages)",
                "above": 5,
                "part": "the history",
                "field": "messages",
                "message": "Keep the whole history.",
            }
        ),
    )
    verdict = grade(checks, RUN)
    assert (verdict.failed_check, verdict.part, verdict.field) == (1, "the history", "messages")
    assert (grade(checks[:1], RUN).part, grade(checks[:1], RUN).field) == (None, None)


@pytest.mark.parametrize(
    ("expect", "field"),
    [
        ("request.messages[-1].content", "messages[-1].content"),
        ("request.system[0].cache_control", "system[0].cache_control"),
        ("request.max_tokens", "max_tokens"),
        ("length(request.messages)", None),
        ("request.system[-1].cache_control || request.cache_control", None),
        ("request.messages[*].role", None),
        ("response.stop_reason", None),
    ],
)
def test_a_plain_request_path_names_its_own_field(expect: str, field: str | None) -> None:
    check = compile_check({"expect": expect, "exists": True, "message": "x"})
    assert check.field == field and check.part is None


def test_a_field_given_wins_over_the_one_the_expression_names() -> None:
    check = compile_check(
        {"expect": "request.system[0].text", "exists": True, "field": "system", "message": "x"}
    )
    assert check.field == "system"


@pytest.mark.parametrize(
    ("message", "field"),
    [
        ("messages.2.content.0.tool_use_id: unexpected", "messages[2].content[0].tool_use_id"),
        ("max_tokens: Field required", "max_tokens"),
        ("model: claude-haiku-3-5 is not a model", "model"),
        ("Overloaded", None),
        ("This model does not support assistant message prefill.", None),
    ],
)
def test_an_api_error_names_the_field_it_is_about(message: str, field: str | None) -> None:
    assert error_field(message) == field


@pytest.mark.parametrize(
    ("field", "present"),
    [
        ("system[-1].cache_control", True),
        ("system[1].cache_control", False),
        ("messages[-3].content", True),
        ("messages[3]", False),
        ("max_tokens.value", False),
        ("tools", False),
    ],
)
def test_it_tells_whether_the_request_has_a_field(field: str, present: bool) -> None:
    assert field_in(RUN["request"], field) is present
    assert field_in(None, field) is False


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (
            {"expect": "response.stop_reason ==", "equals": 1, "message": "x"},
            "not a valid JMESPath",
        ),
        ({"expect": "a", "message": "x"}, "exactly one operator"),
        ({"expect": "a", "equals": 1, "above": 2, "message": "x"}, "exactly one operator"),
        ({"expect": "a", "equal": 1, "message": "x"}, "unknown key 'equal'"),
        ({"expect": "a", "equals": 1}, "needs 'message'"),
        ({"equals": 1, "message": "x"}, "needs 'expect'"),
        ({"expect": "a", "above": "ten", "message": "x"}, "above needs a number"),
        ({"expect": "a", "exists": "yes", "message": "x"}, "exists takes true or false"),
        ({"expect": "a", "one_of": [], "message": "x"}, "one_of takes a non-empty list"),
        ({"expect": "a", "matches": "([", "message": "x"}, "bad regular expression"),
        ({"expect": "a", "equals": 1, "part": "", "message": "x"}, "part must be non-empty"),
        ({"expect": "a", "equals": 1, "field": 3, "message": "x"}, "field must be non-empty"),
        (
            {"expect": "a", "equals": 1, "field": "messages[last]", "message": "x"},
            "must name a request field",
        ),
        ("response.stop_reason", "must be a mapping"),
    ],
)
def test_a_malformed_check_is_refused_with_the_reason(raw: Any, reason: str) -> None:
    with pytest.raises(CheckInvalid, match=reason):
        compile_check(raw)


def test_a_refused_request_never_passes_checks_that_ignore_the_error() -> None:
    checks = (compile_check({"expect": "request.max_tokens", "at_most": 50, "message": "Cap."}),)
    refused = {"request": {"max_tokens": 5}, "response": None, "error": {"type": "x"}}
    verdict = grade(checks, refused)
    assert (verdict.passed, verdict.failed_check, verdict.part) == (False, None, "the request")
    assert "The API refused this request" in verdict.message
    assert grade(checks, refused | {"error": None}).passed


def test_an_exercise_about_errors_can_pass_a_run_that_got_one() -> None:
    checks = (compile_check({"expect": "error.type", "equals": "x", "message": "The error."}),)
    assert grade(checks, {"request": {}, "response": None, "error": {"type": "x"}}).passed
