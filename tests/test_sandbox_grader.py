"""The grader: every operator over {request, response, error, events}; malformed checks refused."""

from __future__ import annotations

from typing import Any

import pytest

from course.sandbox.grader import CheckInvalid, compile_check, grade

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
        ("response.stop_reason", "must be a mapping"),
    ],
)
def test_a_malformed_check_is_refused_with_the_reason(raw: Any, reason: str) -> None:
    with pytest.raises(CheckInvalid, match=reason):
        compile_check(raw)
