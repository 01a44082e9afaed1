"""Every lesson exercise grades what it teaches: its solution passes, its starter and wrong answers fail."""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path

import jmespath
import pytest
from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.cache import cache as django_cache

from course.lessons import Lesson, load_catalogue
from course.model_catalogue import model_data
from course.sandbox import grader, runner, simulator
from course.sandbox.exercises import Exercise
from course.sandbox.models import Attempt
from course.sandbox.solutions import grade_runs, grading_data, health
from tests.users import make_user

EXERCISE_ID_RE = re.compile(r"^```exercise\nid: ([a-z0-9-]+)$", re.M)


def exercise_ids() -> list[tuple[str, str]]:
    """(lesson file, exercise id) read straight from the Markdown, so a broken lesson still shows."""
    return [
        (path.name, ident)
        for path in sorted(Path(settings.BASE_DIR, "lessons").glob("[0-9][0-9]-*.md"))
        for ident in EXERCISE_ID_RE.findall(path.read_text(encoding="utf-8"))
    ]


@cache
def lesson_in(filename: str) -> Lesson:
    # Parsing a lesson runs every solution through the simulator: do it once per file.
    course = load_catalogue()
    assert course.problems == (), "\n".join(map(str, course.problems))
    return next(lesson for lesson in course.lessons if lesson.path.name == filename)


def exercise(filename: str, ident: str) -> Exercise:
    found = lesson_in(filename).exercise(ident)
    assert found is not None, f"{filename} has no exercise {ident!r}"
    return found


def runs(exercise: Exercise, body: dict | str, times: int = 2) -> list[grader.Verdict]:
    """Grade `body` run `times` times in a row on one fresh simulator cache, fault included."""
    text = body if isinstance(body, str) else json.dumps(body)
    store = simulator.MemoryStore()
    return [
        grader.grade(exercise.checks, grading_data(exercise, text, store)) for _ in range(times)
    ]


def data(exercise: Exercise, body: dict) -> dict:
    return grading_data(exercise, json.dumps(body), simulator.MemoryStore())


def solution(filename: str, ident: str) -> tuple[Exercise, dict]:
    found = exercise(filename, ident)
    return found, json.loads(found.solution)


CASES = exercise_ids()


def test_every_lesson_has_at_least_three_exercises():
    per_lesson = {name: sum(1 for n, _ in CASES if n == name) for name, _ in CASES}
    assert len(per_lesson) == 4 and min(per_lesson.values()) >= 3, per_lesson
    for lesson in load_catalogue().lessons:
        assert len(lesson.exercises) == per_lesson[lesson.path.name]
        for item in lesson.exercises:
            assert f'data-exercise="{item.id}"' in lesson.html


@pytest.mark.parametrize(("filename", "ident"), CASES)
def test_the_reference_solution_passes_its_own_checks(filename, ident):
    found = exercise(filename, ident)
    assert grade_runs(found, found.solution).passed
    assert found.health is not None and found.health.ok, found.health.failures()


@pytest.mark.parametrize(("filename", "ident"), CASES)
def test_every_listed_wrong_answer_fails_with_a_check_message(filename, ident):
    found = exercise(filename, ident)
    assert len(found.wrong_answers) >= 3
    for answer in found.wrong_answers:
        verdict = grade_runs(found, answer.body)
        assert not verdict.passed, f"line {answer.line}: passes, yet {answer.mistake}"
        assert verdict.message in {check.message for check in found.checks}
    # The health the banner and the preview read says the same.
    assert health(found).passing_wrong_answers == ()


@pytest.mark.parametrize(("filename", "ident"), CASES)
def test_each_check_field_names_a_field_the_learner_wrote(filename, ident):
    found = exercise(filename, ident)
    bodies = [json.loads(found.solution), json.loads(found.starter)]
    for check in found.checks:
        if check.field is not None:
            assert any(jmespath.search(check.field, body) is not None for body in bodies), (
                f"{check.expect}: field {check.field!r} is in neither the solution nor the starter"
            )


@pytest.mark.parametrize(("filename", "ident"), CASES)
def test_the_starter_does_not_pass_even_when_run_twice(filename, ident):
    found = exercise(filename, ident)
    verdicts = runs(found, found.starter)
    assert not any(verdict.passed for verdict in verdicts)
    # The learner is told something a check says, never a bare "wrong".
    assert verdicts[-1].message in {check.message for check in found.checks}


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(("filename", "ident"), CASES)
async def test_a_learner_completes_the_exercise_in_the_simulator(filename, ident, settings):
    settings.ANTHROPIC_API_KEY, settings.SANDBOX_MODE = "", "auto"
    await sync_to_async(django_cache.clear)()
    learner = await sync_to_async(make_user)()
    lesson, found = lesson_in(filename), exercise(filename, ident)

    async def attempt(body_text: str) -> dict:
        items = runner.run(
            user=learner, lesson=lesson, exercise=found, body_text=body_text, fault=found.fault
        )
        result = [item async for item in items][-1]
        assert result["kind"] == "result" and result["mode"] == "simulator"
        return result["verdict"]

    not_yet = await attempt(found.starter)  # graded, but running the starter uses no hint
    assert not_yet["passed"] is False and not_yet["starter"] and not_yet["hint"] is None
    # A learner who fixed a cache exercise runs it again to read what the first run wrote.
    verdict = await attempt(found.solution)
    if not verdict["passed"]:
        verdict = await attempt(found.solution)
    assert verdict["passed"] and verdict["explanation_html"] == found.explanation_html
    passed = await sync_to_async(Attempt.objects.passed_ids)(learner)
    assert passed == {lesson.slug: {ident}}
    await sync_to_async(django_cache.clear)()


@pytest.mark.parametrize(("filename", "ident"), CASES)
def test_the_exercise_is_written_for_learners(filename, ident):
    found = exercise(filename, ident)
    assert found.starter != found.solution
    assert 2 <= len(found.hints) <= 3 and 1 <= len(found.checks) <= 5
    for check in found.checks:
        assert len(check.message.split()) >= 8, f"say what is missing and why: {check.message}"
    # The body names a model the sandbox offers, or on purpose one it does not.
    assert json.loads(found.starter).get("model")


# A learner who gets the idea right in their own words passes; the checks test ideas, not strings.


def test_a_history_in_content_block_form_passes():
    found, body = solution("01-messages-api.md", "keep-the-history")
    for message in body["messages"]:
        message["content"] = [{"type": "text", "text": message["content"]}]
    assert runs(found, body, times=1)[0].passed


def test_a_longer_history_passes_but_a_missing_reply_or_a_trailing_one_does_not():
    found, body = solution("01-messages-api.md", "keep-the-history")
    first, reply, follow_up = body["messages"]
    longer = {**body, "messages": [first, reply, first, reply, follow_up]}
    assert runs(found, longer, times=1)[0].passed
    no_reply = {**body, "messages": [first, follow_up, follow_up]}
    assert runs(found, no_reply, times=1)[0].message == found.checks[1].message
    trailing_reply = {**body, "messages": [first, reply, follow_up, reply]}
    assert runs(found, trailing_reply, times=1)[0].message == found.checks[0].message


def test_the_cache_exercise_passes_on_the_second_run_not_the_first():
    found, body = solution("02-system-prompts-and-caching.md", "cache-write-then-read")
    first, second = runs(found, body)
    assert not first.passed and "run the same body again" in first.message
    assert second.passed
    written = data(found, body)["response"]["usage"]
    assert written["cache_creation_input_tokens"] > 0 and written["cache_read_input_tokens"] == 0


def test_automatic_caching_is_an_accepted_answer_to_the_cache_exercise():
    found, body = solution("02-system-prompts-and-caching.md", "cache-write-then-read")
    for block in body["system"]:
        block.pop("cache_control", None)
    body["cache_control"] = {"type": "ephemeral"}
    assert [verdict.passed for verdict in runs(found, body)] == [False, True]


def test_the_cache_starter_writes_nothing_because_its_prefix_is_too_short():
    found = exercise("02-system-prompts-and-caching.md", "cache-write-then-read")
    store = simulator.MemoryStore()
    for _ in range(2):
        usage = grading_data(found, found.starter, store)["response"]["usage"]
        assert usage["cache_creation_input_tokens"] == usage["cache_read_input_tokens"] == 0


def test_keeping_four_breakpoints_is_as_right_as_keeping_one():
    found, body = solution("02-system-prompts-and-caching.md", "four-breakpoints-at-most")
    for block in body["system"][1:]:
        block["cache_control"] = {"type": "ephemeral"}
    assert runs(found, body, times=1)[0].passed
    body["system"][0]["cache_control"] = {"type": "ephemeral"}
    assert runs(found, body, times=1)[0].message == found.checks[0].message


def test_an_hour_on_the_message_is_valid_but_not_what_the_task_asks():
    found, body = solution("02-system-prompts-and-caching.md", "longer-ttl-first")
    body["messages"][-1]["content"][-1]["cache_control"]["ttl"] = "1h"
    graded = data(found, body)
    assert graded["error"] is None
    assert runs(found, body, times=1)[0].message == found.checks[-1].message
    body["messages"][-1]["content"][-1]["cache_control"]["ttl"] = "5m"
    assert runs(found, body, times=1)[0].passed


def test_labels_named_in_the_message_alone_pass_once_the_reply_is_pinned_to_one():
    found = exercise("03-models-tokens-and-sampling.md", "sampling-parameters-refused")
    body = json.loads(found.starter)
    del body["temperature"]
    assert runs(found, body, times=1)[0].message == found.checks[3].message
    body["messages"][0]["content"] += " Reply with only the label."
    assert runs(found, body, times=1)[0].passed
    body["top_p"] = 0.5
    assert runs(found, body, times=1)[0].message == found.checks[0].message


def test_a_system_prompt_asking_for_the_opposite_format_fails_whatever_the_reply_says():
    found, body = solution("02-system-prompts-and-caching.md", "system-sets-the-format")
    body["system"] = body["system"].replace(
        "answer in numbered steps", "never answer in numbered steps"
    )
    verdict = runs(found, body, times=1)[0]
    assert verdict.message == found.checks[3].message
    assert found.checks[3].field == "system"


def test_the_stop_sequence_is_left_out_of_the_content():
    found, body = solution("03-models-tokens-and-sampling.md", "stop-at-your-marker")
    response = data(found, body)["response"]
    assert response["stop_sequence"] == "###"
    assert "###" not in response["content"][0]["text"]


def test_a_newline_stop_sequence_fires_too_early_and_is_explained():
    found, body = solution("03-models-tokens-and-sampling.md", "stop-at-your-marker")
    body["stop_sequences"] = ["\n"]
    verdict = runs(found, body, times=1)[0]
    assert not verdict.passed and "earlier than you wanted" in verdict.message


def test_the_closing_brace_starter_really_returns_broken_json():
    found = exercise("03-models-tokens-and-sampling.md", "closing-brace-trap")
    response = data(found, json.loads(found.starter))["response"]
    assert response["stop_reason"] == "stop_sequence" and response["stop_sequence"] == "}"
    with pytest.raises(json.JSONDecodeError):
        json.loads(response["content"][0]["text"])


def test_a_cap_above_what_the_task_needs_is_explained():
    found, body = solution("03-models-tokens-and-sampling.md", "cap-sized-for-the-task")
    for cap in (1000, 501):
        body["max_tokens"] = cap
        verdict = runs(found, body, times=1)[0]
        assert not verdict.passed and "room to spare" in verdict.message


def test_the_streamed_solution_reports_stop_reason_only_at_the_end():
    found, body = solution("04-streaming-and-errors.md", "stream-and-read-events")
    events = data(found, body)["events"]
    assert events[0]["data"]["message"]["stop_reason"] is None
    assert any(event["event"] == "ping" for event in events)


def test_the_529_exercise_passes_on_any_current_model_only_while_the_fault_is_on():
    found, body = solution("04-streaming-and-errors.md", "overloaded-529")
    assert found.fault == "529"
    body["model"] = "claude-sonnet-5-5"
    assert runs(found, body, times=1)[0].passed
    without_fault = Exercise(**{**found.__dict__, "fault": None})
    assert runs(without_fault, body, times=1)[0].message == found.checks[1].message


def test_the_mid_stream_error_arrives_after_text_in_a_200_response():
    found, body = solution("04-streaming-and-errors.md", "error-mid-stream")
    graded = data(found, body)
    names = [event["event"] for event in graded["events"]]
    assert names[-1] == "error" and "message_stop" not in names
    assert names.index("content_block_delta") < names.index("error")
    assert graded["error"]["status"] == 200 and graded["error"]["type"] == "overloaded_error"


def test_a_truncated_stream_says_so_only_in_its_last_message_delta():
    found, body = solution("04-streaming-and-errors.md", "truncated-stream")
    events = data(found, body)["events"]
    assert events[0]["data"]["message"]["stop_reason"] is None
    last_delta = [event for event in events if event["event"] == "message_delta"][-1]
    assert last_delta["data"]["delta"]["stop_reason"] == "max_tokens"
    assert last_delta["data"]["usage"]["output_tokens"] == body["max_tokens"]


def test_exercises_name_the_course_model_through_its_placeholder():
    """A new default model in models.yaml reaches every exercise; a model typed out must be retired."""
    fence = re.compile(r"^```exercise\n(.*?)^```$", re.M | re.S)
    typed = re.compile(r'"model": "(claude-[^"]+)"')
    for path in sorted(Path(settings.BASE_DIR, "lessons").glob("[0-9][0-9]-*.md")):
        for block in fence.findall(path.read_text(encoding="utf-8")):
            assert "{{ model.default.id }}" in block, block.splitlines()[0]
            for model_id in typed.findall(block):
                info = model_data().get(model_id)
                assert info is not None and not info.usable, f"{path.name}: type {model_id!r}"


def test_the_tool_round_trip_works_with_the_id_the_first_run_returns():
    found, body = solution("01-messages-api.md", "tool-round-trip")
    question = body["messages"][0]
    first = data(found, {**body, "messages": [question]})["response"]
    assert first["stop_reason"] == "tool_use"
    (call,) = [block for block in first["content"] if block["type"] == "tool_use"]
    assert call["name"] == "get_weather" and call["input"]["city"] == "Paris"
    result = {"type": "tool_result", "tool_use_id": call["id"], "content": "14°C, light rain"}
    messages = [
        question,
        {"role": "assistant", "content": first["content"]},
        {"role": "user", "content": [result]},
    ]
    second = runs(found, {**body, "messages": messages}, times=1)[0]
    assert second.passed, second.message
    answer = data(found, {**body, "messages": messages})["response"]
    assert answer["stop_reason"] == "end_turn"
    assert "14°C, light rain" in answer["content"][0]["text"]


def test_the_structured_output_comes_back_as_json_valid_against_the_schema():
    found, body = solution("03-models-tokens-and-sampling.md", "label-as-json")
    response = data(found, body)["response"]
    (text,) = [block["text"] for block in response["content"] if block["type"] == "text"]
    reply = json.loads(text)
    assert set(reply) == {"label", "reason"}
    assert reply["label"] in {"bug", "feature", "question"} and isinstance(reply["reason"], str)
    starter = data(found, json.loads(found.starter))["response"]
    assert "label" not in json.loads(starter["content"][0]["text"])  # JSON in words: any shape


def test_the_closing_brace_solution_shows_json_coming_back():
    found, body = solution("03-models-tokens-and-sampling.md", "closing-brace-trap")
    response = data(found, body)["response"]
    reply = json.loads(response["content"][0]["text"])
    assert set(reply) == {"user", "active"} and set(reply["user"]) == {"name", "role"}
    assert isinstance(reply["active"], bool)


DELETE = object()  # an edit that removes the key instead of setting it


def _edited(body: dict, edits: tuple) -> dict:
    for path, value in edits:
        target = body
        for key in path[:-1]:
            target = target[key]
        if value is DELETE:
            del target[path[-1]]
        else:
            target[path[-1]] = value
    return body


TICKET = "'The export button crashes the app.'"
LABEL_SCHEMA = ("output_config", "format", "schema")

# (lesson, exercise, what the learner wrote differently, edits to the solution: (path, value)).
RIGHT_IN_OTHER_WORDS = [
    (
        "01-messages-api.md",
        "end-on-a-user-turn",
        "the name alone, no explanation",
        (
            (
                ("messages", -1, "content"),
                "Suggest one name for a grey kitten. Respond with the name alone, no explanation.",
            ),
        ),
    ),
    (
        "01-messages-api.md",
        "end-on-a-user-turn",
        "the rule in the system prompt",
        (
            (("system",), "Reply with just the name, nothing else."),
            (("messages", -1, "content"), "Suggest one name for a grey kitten."),
        ),
    ),
    (
        "01-messages-api.md",
        "end-on-a-user-turn",
        "a negation that keeps the bare name",
        (
            (
                ("messages", -1, "content"),
                "Suggest one name for a grey kitten. Do not add anything, just the name.",
            ),
        ),
    ),
    (
        "01-messages-api.md",
        "keep-the-history",
        "the first question in other words",
        ((("messages", 0, "content"), "What should I call my grey cat? Give me one name."),),
    ),
    (
        "01-messages-api.md",
        "keep-the-history",
        "a follow-up without the word why",
        ((("messages", -1, "content"), "How did you choose it?"),),
    ),
    (
        "01-messages-api.md",
        "tool-round-trip",
        "the result as content blocks, after a text block from Claude",
        (
            (
                ("messages", -1, "content", 0, "content"),
                [{"type": "text", "text": "14°C, light rain"}],
            ),
            (
                ("messages", 1, "content"),
                [
                    {"type": "text", "text": "Let me check."},
                    {
                        "type": "tool_use",
                        "id": "toolu_01WeatherParis",
                        "name": "get_weather",
                        "input": {"city": "Paris"},
                    },
                ],
            ),
        ),
    ),
    (
        "02-system-prompts-and-caching.md",
        "system-sets-the-format",
        "step-by-step instead of numbered",
        (
            (
                ("system",),
                "You answer support questions about Ledgerly, the invoicing app. Explain "
                "procedures step-by-step, naming each menu item you click.",
            ),
        ),
    ),
    (
        "02-system-prompts-and-caching.md",
        "system-sets-the-format",
        "a negation that is not about the format",
        (
            (
                ("system",),
                "You are Ledgerly's support assistant. Never answer in paragraphs: always use "
                "numbered steps naming each menu item. Avoid jargon and use plain words.",
            ),
        ),
    ),
    (
        "02-system-prompts-and-caching.md",
        "system-sets-the-format",
        "the question in other words, as a block",
        (
            (
                ("messages", -1, "content"),
                [{"type": "text", "text": "How do I chase a customer who hasn't paid an invoice?"}],
            ),
        ),
    ),
    (
        "02-system-prompts-and-caching.md",
        "diagnose-a-cache-miss",
        "the time at the end of the user's message",
        (
            (
                ("messages", -1, "content"),
                "Is my invoice from last Friday overdue yet? (Current time: 2026-12-06 14:05 UTC.)",
            ),
        ),
    ),
    (
        "03-models-tokens-and-sampling.md",
        "sampling-parameters-refused",
        "just the label",
        (
            (
                ("system",),
                "Label each support ticket. The only labels are bug, feature and question; answer "
                "with just the label.",
            ),
        ),
    ),
    (
        "03-models-tokens-and-sampling.md",
        "sampling-parameters-refused",
        "one of the labels",
        (
            (
                ("system",),
                "You classify support tickets. Respond with one of: bug, feature, question.",
            ),
        ),
    ),
    (
        "03-models-tokens-and-sampling.md",
        "sampling-parameters-refused",
        "the label and nothing more, all in the message",
        (
            (("system",), DELETE),
            (
                ("messages", -1, "content"),
                f"Valid labels: bug | feature | question. Reply with the label and nothing more. "
                f"Ticket: {TICKET}",
            ),
        ),
    ),
    (
        "03-models-tokens-and-sampling.md",
        "sampling-parameters-refused",
        "a negation that keeps the one label",
        (
            (
                ("system",),
                "You classify support tickets as bug, feature or question. Never add an "
                "explanation, just the label.",
            ),
        ),
    ),
    (
        "03-models-tokens-and-sampling.md",
        "label-as-json",
        "an enum without a type, in another order",
        (
            ((*LABEL_SCHEMA, "properties", "label"), {"enum": ["question", "bug", "feature"]}),
            ((*LABEL_SCHEMA, "required"), ["reason", "label"]),
        ),
    ),
    (
        "03-models-tokens-and-sampling.md",
        "closing-brace-trap",
        "the starter's message kept as it was",
        (
            (
                ("messages", -1, "content"),
                'Return Ada, an active admin, as JSON shaped like {"user": {"name": "...", '
                '"role": "..."}, "active": true}.',
            ),
        ),
    ),
    (
        "03-models-tokens-and-sampling.md",
        "max-tokens-within-limits",
        "the paragraphs counted in digits",
        (
            (
                ("messages", -1, "content"),
                "Explain the difference between the context window and max_tokens in 3 short "
                "paragraphs.",
            ),
        ),
    ),
]


@pytest.mark.parametrize(
    ("filename", "ident", "written", "edits"),
    RIGHT_IN_OTHER_WORDS,
    ids=[f"{ident}: {written}" for _, ident, written, _ in RIGHT_IN_OTHER_WORDS],
)
def test_the_right_idea_in_other_words_passes(filename, ident, written, edits):
    found, body = solution(filename, ident)
    verdict = grade_runs(found, json.dumps(_edited(body, edits)))
    assert verdict.passed, verdict.message


def test_a_whole_system_prompt_in_one_cached_block_passes_the_cache_exercises():
    for ident in ("cache-write-then-read", "four-breakpoints-at-most"):
        found, body = solution("02-system-prompts-and-caching.md", ident)
        text = "\n\n".join(block["text"] for block in body["system"])
        body["system"] = [{"type": "text", "text": text, "cache_control": {"type": "ephemeral"}}]
        assert grade_runs(found, json.dumps(body)).passed, ident


@pytest.mark.parametrize(("filename", "ident"), CASES)
def test_a_request_the_api_refuses_never_passes(filename, ident):
    found, body = solution(filename, ident)
    body["max_tokens"] = str(body["max_tokens"])  # a number typed as text: a 400 on every model
    graded = data(found, body)
    assert graded["error"] is not None and graded["error"]["status"] == 400
    assert not any(verdict.passed for verdict in runs(found, body))


@pytest.mark.parametrize(("filename", "ident"), CASES)
def test_every_check_names_its_part_and_a_field_to_highlight(filename, ident):
    for check in exercise(filename, ident).checks:
        assert check.part, f"{check.expect}: say which part of the task this check is about"
        plain = re.fullmatch(r"request\.[a-z_]+(\[-?\d+\])*(\.[a-z_]+(\[-?\d+\])*)*", check.expect)
        assert plain or check.field, f"{check.expect}: name the field the editor highlights"


def _as_blocks(body: dict) -> dict:
    """The same request with every string system prompt and message content as text blocks."""
    if isinstance(body.get("system"), str):
        body["system"] = [{"type": "text", "text": body["system"]}]
    for message in body.get("messages", []):
        if isinstance(message["content"], str):
            message["content"] = [{"type": "text", "text": message["content"]}]
    return body


@pytest.mark.parametrize(("filename", "ident"), CASES)
def test_text_blocks_instead_of_strings_grade_the_same(filename, ident):
    found, body = solution(filename, ident)
    assert grade_runs(found, json.dumps(_as_blocks(body))).passed
    for answer in found.wrong_answers:
        blocks = _as_blocks(json.loads(answer.body))
        assert not grade_runs(found, json.dumps(blocks)).passed, answer.mistake
