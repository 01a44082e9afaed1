"""The runner: one request through validation, the site's limits, the simulator or Claude, grading
and the attempt record."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import pytest_asyncio
from asgiref.sync import sync_to_async
from django.core.cache import cache

from course import claude
from course.sandbox import runner
from course.sandbox.exercises import parse_block
from course.sandbox.models import Attempt, HintTrack
from tests.fake_anthropic import Drop, HttpError, StreamError
from tests.users import make_user

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]

LESSON = SimpleNamespace(slug="messages-api")
KEY = "sk-ant-test-key-never-shown"
HELLO = {
    "model": "claude-haiku-5-5",
    "max_tokens": 256,
    "messages": [{"role": "user", "content": "Hello"}],
}
EXERCISE_YAML = """\
id: stop-early
title: Stop early
task: Make the reply stop at max_tokens.
starter: |
  {"model": "claude-haiku-5-5", "max_tokens": 256, "messages": [{"role": "user", "content": "Hi"}]}
solution: |
  {"model": "claude-haiku-5-5", "max_tokens": 5, "messages": [{"role": "user", "content": "Hi"}]}
wrong_answers:
  - mistake: Leaves max_tokens as it was.
    body: |
      {"model": "claude-haiku-5-5", "max_tokens": 255, "messages": [{"role": "user", "content": "Hi"}]}
  - mistake: Sets max_tokens far above what the sandbox allows.
    body: |
      {"model": "claude-haiku-5-5", "max_tokens": 5000, "messages": [{"role": "user", "content": "Hi"}]}
  - mistake: Removes max_tokens.
    body: |
      {"model": "claude-haiku-5-5", "messages": [{"role": "user", "content": "Hi"}]}
checks:
  - expect: request.max_tokens
    at_most: 50
    part: the cap on the reply
    message: max_tokens is still large; make it small.
  - expect: response.stop_reason
    equals: max_tokens
    message: The reply ended on its own; make max_tokens small.
hints:
  - Look at max_tokens.
  - Set max_tokens to 5.
  - Really, 5.
explanation: The reply was cut at **max_tokens**.
"""
EXERCISE = parse_block(EXERCISE_YAML, Path("lesson.md"), 1)[0]


@pytest.fixture(autouse=True)
def clear_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def learner(transactional_db):
    return make_user()


async def run(user, body: Any, **options: Any) -> tuple[list[dict], dict]:
    text = body if isinstance(body, str) else json.dumps(body)
    options.setdefault("exercise", None)
    items = [item async for item in runner.run(user=user, lesson=LESSON, body_text=text, **options)]
    assert [item["kind"] for item in items][-1] == "result"
    assert all(item["kind"] == "event" for item in items[:-1])
    return items[:-1], items[-1]


@pytest.fixture(autouse=True)
def simulator_mode(settings):
    settings.ANTHROPIC_API_KEY = ""
    settings.SANDBOX_MODE = "auto"


async def test_a_simulated_run_returns_the_response_and_records_the_attempt(learner) -> None:
    events, result = await run(learner, HELLO)
    assert events == []
    assert result["status"] == 200 and result["mode"] == "simulator"
    assert result["response"]["stop_reason"] == "end_turn"
    assert result["usage"]["input_tokens"] > 0
    assert result["cache"] == "none"
    assert result["cost"].startswith("$0.0000")
    assert result["request_id"].startswith("req_")
    assert result["verdict"] is None
    attempt = await Attempt.objects.aget(pk=result["attempt_id"])
    assert attempt.learner_id == learner.pk
    assert (attempt.lesson_slug, attempt.exercise_id) == ("messages-api", "")
    assert attempt.request == HELLO and attempt.status == 200 and attempt.passed is None
    assert attempt.result["stop_reason"] == "end_turn"


async def test_a_streamed_run_yields_the_events_then_the_result(learner) -> None:
    events, result = await run(learner, {**HELLO, "stream": True})
    names = [event["event"] for event in events]
    assert names[:3] == ["message_start", "content_block_start", "ping"]
    assert names[-2:] == ["message_delta", "message_stop"]
    assert all(isinstance(event["ms"], int) for event in events)
    text = "".join(
        e["data"]["delta"]["text"] for e in events if e["event"] == "content_block_delta"
    )
    assert result["response"]["content"][0]["text"] == text
    assert result["ttft_ms"] is not None and result["total_ms"] >= result["ttft_ms"]


async def hints_shown(learner) -> int:
    track = await HintTrack.objects.filter(learner=learner, exercise_id=EXERCISE.id).afirst()
    return track.shown if track else 0


async def test_the_verdict_names_the_first_failing_check_and_the_next_hint_then_passed(
    learner,
) -> None:
    solution = json.loads(EXERCISE.solution)
    wrong = {**solution, "max_tokens": 200}
    _, first = await run(learner, wrong, exercise=EXERCISE)
    assert first["verdict"] == {
        "graded": True,
        "passed": False,
        "message": "max_tokens is still large; make it small.",
        "api_error": None,
        "check": 1,
        "checks": 2,
        "part": "the cap on the reply",
        "field": "max_tokens",
        "field_missing": False,
        "starter": False,
        "hint": "<p>Look at max_tokens.</p>\n",
        "hints_shown": 1,
    }
    _, second = await run(learner, {**solution, "max_tokens": 100}, exercise=EXERCISE)
    assert second["verdict"]["hint"] == "<p>Set max_tokens to 5.</p>\n"
    assert second["verdict"]["hints_shown"] == 2
    _, passed = await run(learner, solution, exercise=EXERCISE)
    assert passed["verdict"]["passed"] is True
    assert passed["verdict"]["message"] == "Passed"
    assert "<strong>max_tokens</strong>" in passed["verdict"]["explanation_html"]
    assert passed["verdict"]["hint"] is None
    passed_ids = await sync_to_async(Attempt.objects.passed_ids)(learner)
    assert passed_ids == {"messages-api": {"stop-early"}}
    assert await hints_shown(learner) == 2


async def test_a_hint_the_learner_already_revealed_is_not_the_next_one(learner) -> None:
    await sync_to_async(HintTrack.reveal_next)(learner, "messages-api", EXERCISE.id, 3)
    wrong = {**json.loads(EXERCISE.solution), "max_tokens": 200}
    _, result = await run(learner, wrong, exercise=EXERCISE)
    assert result["verdict"]["hints_shown"] == 2
    assert result["verdict"]["hint"] == EXERCISE.hints[1]


async def test_the_last_hint_repeats_once_every_hint_is_shown(learner) -> None:
    wrong = {**json.loads(EXERCISE.solution), "max_tokens": 200}
    for _ in range(4):
        _, result = await run(learner, wrong, exercise=EXERCISE)
    assert result["verdict"]["hints_shown"] == 3
    assert result["verdict"]["hint"] == EXERCISE.hints[-1]


async def test_running_the_starter_unchanged_is_graded_but_uses_no_hint(learner) -> None:
    reformatted = json.dumps(json.loads(EXERCISE.starter), indent=4)
    for body in (EXERCISE.starter, reformatted):
        _, result = await run(learner, body, exercise=EXERCISE)
        verdict = result["verdict"]
        assert verdict["graded"] is True and verdict["passed"] is False
        assert verdict["starter"] is True
        assert verdict["message"] == "max_tokens is still large; make it small."
        assert verdict["hint"] is None and verdict["hints_shown"] is None
    assert await hints_shown(learner) == 0
    attempts = [a async for a in Attempt.objects.filter(learner=learner)]
    assert [a.passed for a in attempts] == [False, False]
    assert not any(a.refused_by_site for a in attempts)


async def test_a_field_missing_from_the_request_is_named_as_missing(learner) -> None:
    exercise = parse_block(
        EXERCISE_YAML.replace("expect: request.max_tokens", "expect: request.system"),
        Path("lesson.md"),
        1,
    )[0]
    _, result = await run(learner, json.loads(EXERCISE.solution), exercise=exercise)
    assert result["verdict"]["field"] == "system"
    assert result["verdict"]["field_missing"] is True


SITE_REFUSALS = [
    ('{"model": "claude-haiku-5-5",', 400, "not valid JSON"),
    ({**HELLO, "model": "claude-opus-5-5"}, 403, "this sandbox runs only"),
    ({**HELLO, "max_tokens": 4000}, 400, "this sandbox allows at most"),
    ({**HELLO, "extra": "x" * 70_000}, 413, "this sandbox accepts up to"),
]


@pytest.mark.parametrize(("body", "status", "reason"), SITE_REFUSALS)
async def test_a_run_the_site_refused_is_not_graded_and_keeps_the_hint_where_it_was(
    learner, settings, body: Any, status: int, reason: str
) -> None:
    if reason == "this sandbox allows at most":  # the max_tokens cap guards the bill: live only
        settings.SANDBOX_MODE = "live"
    await sync_to_async(HintTrack.reveal_next)(learner, "messages-api", EXERCISE.id, 3)
    _, result = await run(learner, body, exercise=EXERCISE)
    settings.SANDBOX_MODE = "simulator"
    assert result["status"] == status and result["answered_by"] == "site"
    verdict = result["verdict"]
    assert verdict["graded"] is False and verdict["passed"] is None
    assert reason in verdict["message"] and verdict["hint"] is None
    assert await hints_shown(learner) == 1
    if result["attempt_id"] is not None:  # kept, so the body is never lost, but no try
        attempt = await Attempt.objects.aget(pk=result["attempt_id"])
        assert attempt.refused_by_site is True and attempt.passed is None
        assert attempt.request_text == (body if isinstance(body, str) else json.dumps(body))
        assert "verdict" not in attempt.result
    wrong = {**json.loads(EXERCISE.solution), "max_tokens": 200}
    _, after = await run(learner, wrong, exercise=EXERCISE)
    assert after["verdict"]["hint"] == EXERCISE.hints[1]


async def test_the_tutor_reads_a_refused_run_as_not_graded(learner) -> None:
    from tutor.attempts import latest_attempt_text

    lesson = SimpleNamespace(slug="messages-api", exercise=lambda _: EXERCISE)
    await run(learner, '{"model": ', exercise=EXERCISE)
    text = await sync_to_async(latest_attempt_text)(learner, lesson)
    assert "Not graded: this site refused the run" in text
    assert "Grader's verdict" not in text and "not valid JSON" in text


async def test_the_sites_own_rate_limit_is_not_graded_and_not_stored(learner, settings) -> None:
    settings.SANDBOX_RUNS_PER_MINUTE = 1
    wrong = {**json.loads(EXERCISE.solution), "max_tokens": 200}
    await run(learner, wrong, exercise=EXERCISE)
    _, limited = await run(learner, wrong, exercise=EXERCISE)
    assert limited["status"] == 429 and limited["answered_by"] == "site"
    assert limited["verdict"]["graded"] is False
    assert "runs this minute" in limited["verdict"]["message"]
    assert limited["verdict"]["hint"] is None
    assert await hints_shown(learner) == 1
    assert await Attempt.objects.acount() == 1


async def test_an_error_the_api_answers_with_leads_the_verdict(learner) -> None:
    body = {**json.loads(EXERCISE.solution), "temperature": 0.2}
    _, result = await run(learner, body, exercise=EXERCISE)
    assert result["answered_by"] == "simulator"
    verdict = result["verdict"]
    assert verdict["graded"] is True and verdict["passed"] is False
    assert verdict["api_error"]["status"] == 400
    assert verdict["api_error"]["type"] == "invalid_request_error"
    assert verdict["api_error"]["message"].startswith("temperature:")
    assert verdict["message"] == "The reply ended on its own; make max_tokens small."
    assert verdict["field"] == "temperature"  # the error the verdict leads with names it
    attempt = await Attempt.objects.aget(pk=result["attempt_id"])
    assert attempt.refused_by_site is False and attempt.passed is False


async def test_a_second_cached_run_reads_what_the_first_wrote(learner) -> None:
    system = [
        {
            "type": "text",
            "text": "Lesson text about prompt caching. " * 70,
            "cache_control": {"type": "ephemeral"},
        }
    ]
    _, first = await run(learner, {**HELLO, "system": system})
    _, second = await run(learner, {**HELLO, "system": system})
    assert (first["cache"], second["cache"]) == ("write", "read")
    assert second["usage"]["cache_read_input_tokens"] > 0


async def test_the_simulated_cache_belongs_to_one_learner(learner) -> None:
    other = await sync_to_async(make_user)("grace")
    system = [
        {"type": "text", "text": "Shared prefix. " * 200, "cache_control": {"type": "ephemeral"}}
    ]
    _, theirs = await run(other, {**HELLO, "system": system})
    _, mine = await run(learner, {**HELLO, "system": system})
    assert (theirs["cache"], mine["cache"]) == ("write", "write")


async def test_bad_json_is_refused_with_line_and_column_and_kept(learner) -> None:
    text = '{\n  "model": "claude-haiku-5-5",\n  "max_tokens": 256\n  "messages": []\n}'
    _, result = await run(learner, text)
    assert result["status"] == 400
    assert result["error"]["type"] == "invalid_request_error"
    assert "line 4, column 3" in result["error"]["message"]
    assert result["error"]["source"] == "sandbox"
    attempt = await Attempt.objects.aget(pk=result["attempt_id"])
    assert attempt.request_text == text and attempt.request is None


@pytest.mark.parametrize(
    ("body", "status", "error_type", "fragment"),
    [
        ({**HELLO, "model": "claude-haiku-3-5"}, 404, "not_found_error", "model: claude-haiku-3-5"),
        ({**HELLO, "temperature": 0}, 400, "invalid_request_error", "temperature"),
        ({**HELLO, "model": "claude-opus-5-5"}, 403, "permission_error", "this sandbox runs only"),
        ({**HELLO, "extra": "x" * 70_000}, 413, "request_too_large", "this sandbox accepts up to"),
    ],
)
async def test_a_request_the_api_or_the_site_refuses_gets_the_error(
    learner, body: dict, status: int, error_type: str, fragment: str
) -> None:
    events, result = await run(learner, body)
    assert events == []
    assert (result["status"], result["error"]["type"]) == (status, error_type)
    assert fragment in result["error"]["message"]
    assert result["error"]["status"] == status


async def test_the_max_tokens_cap_applies_in_live_mode_only(learner, settings) -> None:
    # The cap protects the bill; the simulator costs nothing, so only the API's limits apply.
    settings.SANDBOX_MODE = "live"
    events, result = await run(learner, {**HELLO, "max_tokens": 4000})
    assert events == []
    assert (result["status"], result["error"]["type"]) == (400, "invalid_request_error")
    assert "at most 1,024" in result["error"]["message"]
    settings.SANDBOX_MODE = "simulator"
    events, result = await run(learner, {**HELLO, "max_tokens": 4000})
    assert result["status"] == 200


async def test_the_field_an_api_error_names_wins_over_the_failing_checks(learner) -> None:
    exercise = parse_block(
        EXERCISE_YAML.replace("    part: the cap on the reply\n", "    field: max_tokens\n"),
        Path("lesson.md"),
        1,
    )[0]
    assert exercise.checks[0].field == "max_tokens"
    body = {**json.loads(EXERCISE.solution), "max_tokens": 200, "top_p": 0.5}
    _, result = await run(learner, body, exercise=exercise)
    assert result["verdict"]["check"] == 1 and result["verdict"]["field"] == "top_p"
    del body["top_p"]  # answered now: the failing check's own field
    _, answered = await run(learner, body, exercise=exercise)
    assert answered["verdict"]["check"] == 1 and answered["verdict"]["field"] == "max_tokens"


async def test_the_result_says_who_answered(learner) -> None:
    assert (await run(learner, HELLO))[1]["answered_by"] == "simulator"
    assert (await run(learner, {**HELLO, "temperature": 1}))[1]["answered_by"] == "simulator"
    assert (await run(learner, HELLO, fault="529"))[1]["answered_by"] == "fault"
    assert (await run(learner, "{"))[1]["answered_by"] == "site"


async def test_the_model_picker_fills_a_body_without_a_model(learner) -> None:
    body = {k: v for k, v in HELLO.items() if k != "model"}
    _, result = await run(learner, body, model="claude-sonnet-5-5")
    assert result["response"]["model"] == "claude-sonnet-5-5"
    _, kept = await run(learner, HELLO, model="claude-sonnet-5-5")
    assert kept["response"]["model"] == "claude-haiku-5-5"


async def test_an_anonymous_visitor_cannot_run(learner) -> None:
    from django.contrib.auth.models import AnonymousUser

    _, result = await run(AnonymousUser(), HELLO)
    assert (result["status"], result["error"]["type"]) == (401, "authentication_error")
    assert await Attempt.objects.acount() == 0


async def test_a_run_while_another_of_the_same_learner_runs_is_refused(learner) -> None:
    other = await sync_to_async(make_user)("grace")
    stream = runner.run(
        user=learner,
        lesson=LESSON,
        exercise=None,
        body_text=json.dumps({**HELLO, "stream": True}),
    )
    first_event = await anext(stream)
    assert first_event["event"] == "message_start"
    _, refused = await run(learner, HELLO)
    assert (refused["status"], refused["error"]["type"]) == (409, "conflict_error")
    _, meanwhile = await run(other, HELLO)  # another learner is not held up
    assert meanwhile["status"] == 200
    async for _ in stream:
        pass
    _, after = await run(learner, HELLO)
    assert after["status"] == 200


async def test_runs_per_minute_are_limited_even_invalid_ones(learner, settings) -> None:
    settings.SANDBOX_RUNS_PER_MINUTE = 2
    statuses = [(await run(learner, body))[1]["status"] for body in (HELLO, "{", HELLO)]
    assert statuses == [200, 400, 429]
    assert await Attempt.objects.acount() == 2  # the refused run is not stored


@pytest.mark.parametrize(
    ("fault", "status", "error_type"),
    [("429", 429, "rate_limit_error"), ("529", 529, "overloaded_error"), ("500", 500, "api_error")],
)
async def test_a_fault_makes_the_run_fail_with_that_error(
    learner, fault: str, status: int, error_type: str
) -> None:
    _, result = await run(learner, HELLO, fault=fault)
    assert (result["status"], result["error"]["type"]) == (status, error_type)
    if fault == "429":
        assert result["error"]["retry_after"] == 20
    _, next_run = await run(learner, HELLO)  # the fault applies to that run only
    assert next_run["status"] == 200


async def test_a_stream_error_fault_ends_the_stream_with_an_error_event(learner) -> None:
    events, result = await run(learner, {**HELLO, "stream": True}, fault="stream_error")
    names = [event["event"] for event in events]
    assert names[:3] == ["message_start", "content_block_start", "ping"]
    assert names.count("content_block_delta") == 2
    assert names[-1] == "error" and "message_stop" not in names
    assert result["status"] == 200
    assert result["error"] == {"type": "overloaded_error", "message": "Overloaded", "status": 200}


async def test_an_unknown_fault_is_refused(learner) -> None:
    _, result = await run(learner, HELLO, fault="418")
    assert result["status"] == 400 and "Unknown fault" in result["error"]["message"]


async def test_another_learners_attempts_are_not_theirs(learner) -> None:
    other = await sync_to_async(make_user)("grace")
    await run(learner, HELLO)
    assert await Attempt.objects.of(other).acount() == 0
    assert await Attempt.objects.of(learner).acount() == 1


# -- live: the real SDK against the local fake server -------------------------------------


@pytest_asyncio.fixture
async def live(online, settings):
    settings.ANTHROPIC_API_KEY = KEY
    yield online
    await claude.aclose()  # this loop's SDK client and its connections


async def test_a_live_run_reaches_the_model_through_the_sdk(learner, live, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    _, result = await run(learner, {**HELLO, "metadata": {"user_id": KEY}})
    assert result["mode"] == "live" and result["status"] == 200
    assert result["response"]["content"][0]["text"].startswith("You asked about: Hello")
    sent = live.requests[-1]
    assert sent.path == "/v1/messages"
    assert sent.body["messages"] == HELLO["messages"]
    assert result["request_id"] == sent.request_id
    attempt = await Attempt.objects.aget(pk=result["attempt_id"])
    stored = json.dumps([attempt.request_text, attempt.request, attempt.result])
    assert KEY not in stored and "[redacted]" in stored
    assert KEY not in caplog.text
    assert KEY not in json.dumps(result["response"])


async def test_a_live_streamed_run_shows_every_raw_event_including_ping(learner, live) -> None:
    events, result = await run(learner, {**HELLO, "stream": True})
    names = [event["event"] for event in events]
    assert names[:3] == ["message_start", "content_block_start", "ping"]
    assert names[-1] == "message_stop"
    assert result["response"]["stop_reason"] == "end_turn"
    assert result["response"]["content"][0]["text"].startswith("You asked about: Hello")
    assert result["ttft_ms"] is not None


async def test_a_live_api_error_comes_back_as_the_result(learner, live) -> None:
    live.enqueue(HttpError(529, "overloaded_error", "Overloaded"))
    _, result = await run(learner, HELLO)
    assert result["status"] == 529
    assert result["error"]["type"] == "overloaded_error"
    assert result["request_id"] == live.requests[-1].request_id


async def test_a_live_mid_stream_error_event_ends_the_run(learner, live) -> None:
    live.enqueue(StreamError(after=1))
    events, result = await run(learner, {**HELLO, "stream": True})
    assert events[-1]["event"] == "error"
    assert result["error"]["type"] == "overloaded_error" and result["error"]["status"] == 200


async def test_live_runs_name_claude_or_the_site_as_who_answered(learner, live) -> None:
    assert (await run(learner, HELLO))[1]["answered_by"] == "claude"
    _, refused = await run(learner, {**HELLO, "top_k": 3})
    assert refused["answered_by"] == "site" and "source" not in refused["error"]
    _, capped = await run(learner, {**HELLO, "max_tokens": 4000})
    assert capped["answered_by"] == "site" and capped["error"]["source"] == "sandbox"


async def test_a_live_run_that_got_no_answer_is_not_graded(learner, live) -> None:
    live.enqueue(Drop(after=1))
    body = {**json.loads(EXERCISE.solution), "stream": True}
    _, result = await run(learner, body, exercise=EXERCISE)
    assert result["error"]["type"] == "api_connection_error"
    assert result["answered_by"] == "nobody"
    assert result["verdict"]["graded"] is False and result["verdict"]["hint"] is None
    attempt = await Attempt.objects.aget(pk=result["attempt_id"])
    assert attempt.refused_by_site is True and attempt.passed is None
    assert await hints_shown(learner) == 0


async def test_a_live_upstream_refusal_is_graded_and_leads_the_verdict(learner, live) -> None:
    live.enqueue(HttpError(400, "invalid_request_error", "messages.0.content: too long"))
    _, result = await run(learner, {**json.loads(EXERCISE.solution)}, exercise=EXERCISE)
    assert result["answered_by"] == "claude"
    verdict = result["verdict"]
    assert verdict["graded"] is True and verdict["api_error"]["status"] == 400
    assert verdict["field"] == "messages[0].content" and verdict["field_missing"] is False


async def test_faults_never_call_upstream_in_live_mode(learner, live) -> None:
    _, result = await run(learner, {**HELLO, "stream": True}, fault="stream_error")
    assert result["error"]["type"] == "overloaded_error"
    assert live.requests == []


async def test_a_live_run_is_charged_to_the_shared_allowance(learner, live) -> None:
    from course.models import ApiCharge

    _, result = await run(learner, HELLO)
    charge = await ApiCharge.objects.aget(user=learner)
    assert charge.source == "sandbox" and charge.produced is True
    assert charge.tokens == result["usage"]["input_tokens"] + result["usage"]["output_tokens"]
    assert charge.attempts == 1


async def test_a_learner_over_budget_gets_a_429_without_calling_claude(
    learner, live, settings
) -> None:
    settings.TUTOR_MESSAGES_PER_DAY = 1
    await run(learner, HELLO)
    _, result = await run(learner, HELLO)
    assert (result["status"], result["error"]["type"]) == (429, "rate_limit_error")
    assert "daily limit" in result["error"]["message"]
    assert result["error"]["retry_after"] > 0
    assert len(live.requests) == 1


async def test_a_live_request_the_api_would_refuse_never_leaves_the_site(learner, live) -> None:
    _, result = await run(learner, {**HELLO, "top_k": 3})
    assert result["status"] == 400
    assert live.requests == []
