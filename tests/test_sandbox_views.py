"""The sandbox's endpoints through the Django test client: streamed runs, the form, code, access."""

from __future__ import annotations

import dataclasses
import gc
import html as html_lib
import json
import re
import warnings

import pytest
import pytest_asyncio
from asgiref.sync import sync_to_async
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.test import AsyncClient, Client, RequestFactory

from course import claude
from course.lessons import catalogue
from course.sandbox import guards, partials, runner
from course.sandbox.grader import compile_check
from course.sandbox.models import Attempt, HintTrack

LESSON = "/lessons/messages-api/"
STREAM = "/lessons/messages-api/sandbox/stream/"
RUN = "/lessons/messages-api/sandbox/run/"
CODE = "/lessons/messages-api/sandbox/code/"
HINT = "/lessons/messages-api/sandbox/hint/"
GOOD = {
    "model": "claude-haiku-5-5",
    "max_tokens": 64,
    "messages": [{"role": "user", "content": "Say hello"}],
}

pytestmark = pytest.mark.django_db(transaction=True)


def page_text(response) -> str:
    """What a reader sees of a response: its text without tags (code is highlighted in spans)."""
    return html_lib.unescape(re.sub(r"<[^>]+>", "", response.content.decode()))


def page_text_of(html: str) -> str:
    return " ".join(html_lib.unescape(re.sub(r"<[^>]+>", "", html)).split())


def first_exercise():
    return catalogue().get("messages-api").exercises[0]


def make_learner(username: str = "ada"):
    return get_user_model().objects.create_user(username=username, password="a long pass phrase")


@pytest.fixture(autouse=True)
def no_runs_left_over():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture(autouse=True)
def no_connections_left_open():
    """Close what Django's AsyncClient leaves open before the next test (or the teardown) runs.

    The test client does not send request_finished's connection cleanup, and each async request
    runs in a context of its own, so every request here leaves a connection behind; PostgreSQL
    then refuses to drop the test database while any is still open.
    """
    yield
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        gc.collect()


@pytest_asyncio.fixture
async def learner_client() -> AsyncClient:
    client = AsyncClient()
    await client.aforce_login(await sync_to_async(make_learner)())
    return client


async def stream(client: AsyncClient, **data: str) -> tuple[int, str, list[dict]]:
    response = await client.post(STREAM, {"exercise": "", **data})
    if not response.streaming:
        return response.status_code, response["Content-Type"], [json.loads(response.content)]
    lines = [
        json.loads(line)
        async for chunk in response.streaming_content
        for line in chunk.decode().splitlines()
        if line.strip()
    ]
    return response.status_code, response["Content-Type"], lines


@pytest.mark.asyncio
async def test_it_streams_a_run_as_ndjson_ending_in_one_result_with_its_html(learner_client):
    status, content_type, lines = await stream(
        learner_client, body=json.dumps(GOOD | {"stream": True})
    )
    assert status == 200 and content_type == "application/x-ndjson"
    *events, result = lines
    assert [e["event"] for e in events][0] == "message_start"
    assert events[-1]["event"] == "message_stop"
    assert all(e["kind"] == "event" and "<li" in e["html"] for e in events)
    assert result["kind"] == "result" and result["status"] == 200
    assert result["response"]["stop_reason"] == "end_turn"
    assert result["mode"] == "simulator" and result["cache"] == "none"
    assert result["ttft_ms"] is not None and result["total_ms"] >= result["ttft_ms"]
    assert result["usage"]["output_tokens"] > 0 and result["cost"].startswith("$")
    assert "Not cached" in result["html"]["result"] and "200" in result["html"]["result"]
    assert "Finished: 200, stop reason end_turn." in result["html"]["verdict"]


@pytest.mark.asyncio
async def test_it_grades_an_exercise_and_records_the_attempt_for_this_learner_only(
    learner_client,
):
    exercise = first_exercise()
    wrong = exercise.solution.replace('"max_tokens": 1024', '"max_tokens": 0')
    _, _, lines = await stream(learner_client, exercise=exercise.id, body=wrong)
    verdict = lines[-1]["verdict"]
    assert verdict["passed"] is False and verdict["hint"] == exercise.hints[0]
    assert "Not yet." in lines[-1]["html"]["verdict"]
    assert "Hint 1." in lines[-1]["html"]["hints"]

    _, _, lines = await stream(learner_client, exercise=exercise.id, body=exercise.solution)
    assert lines[-1]["verdict"]["passed"] is True
    assert "Passed." in lines[-1]["html"]["verdict"]
    assert "Exercises passed: 1 of" in lines[-1]["score_html"]
    attempts = [a async for a in Attempt.objects.select_related("learner").order_by("created_at")]
    assert [a.passed for a in attempts] == [False, True]
    assert {a.learner.username for a in attempts} == {"ada"}


@pytest.mark.asyncio
async def test_it_refuses_an_anonymous_run_with_json_that_says_how_to_sign_in():
    status, content_type, [body] = await stream(AsyncClient(), body=json.dumps(GOOD))
    assert status == 403 and content_type == "application/json"
    assert body["error"]["type"] == "permission_error"
    assert body["error"]["message"].startswith("Sign in to run requests")
    assert body["error"]["login_url"] == "/accounts/login/?next=/lessons/messages-api/"
    assert await Attempt.objects.acount() == 0


@pytest.mark.asyncio
async def test_it_enforces_csrf_on_a_streamed_run():
    client = AsyncClient(enforce_csrf_checks=True)
    await client.aforce_login(await sync_to_async(make_learner)())
    response = await client.post(STREAM, {"body": json.dumps(GOOD)})
    assert response.status_code == 403
    assert await Attempt.objects.acount() == 0

    page = await client.get(LESSON)  # sets the CSRF cookie, as the lesson page does
    token = page.cookies["csrftoken"].value
    response = await client.post(STREAM, {"body": json.dumps(GOOD)}, headers={"X-CSRFToken": token})
    assert response.status_code == 200
    assert [chunk async for chunk in response.streaming_content]


@pytest.mark.asyncio
async def test_it_points_at_the_line_and_column_of_invalid_json(learner_client):
    _, _, [result] = await stream(learner_client, body='{\n  "model": "x",,\n}')
    assert result["status"] == 400 and result["error"]["type"] == "invalid_request_error"
    assert "line 2, column 16" in result["error"]["message"]
    assert "line 2, column 16" in result["html"]["result"]


@pytest.mark.asyncio
async def test_it_refuses_a_body_over_the_cap_with_413(learner_client, settings):
    settings.SANDBOX_MAX_BODY_BYTES = 1000
    body = json.dumps(GOOD | {"system": "x" * 2000})
    _, _, [result] = await stream(learner_client, body=body)
    assert result["status"] == 413 and result["error"]["type"] == "request_too_large"
    assert "1,000 bytes" in result["error"]["message"]


@pytest.mark.asyncio
async def test_it_answers_an_unknown_model_as_the_api_does(learner_client):
    _, _, [result] = await stream(learner_client, body=json.dumps(GOOD | {"model": "claude-9"}))
    assert result["status"] == 404 and result["error"]["type"] == "not_found_error"


@pytest.mark.parametrize(
    ("fault", "status", "error_type"),
    [
        ("429", 429, "rate_limit_error"),
        ("529", 529, "overloaded_error"),
        ("500", 500, "api_error"),
    ],
)
@pytest.mark.asyncio
async def test_it_fails_the_next_run_on_purpose(learner_client, fault, status, error_type):
    _, _, lines = await stream(learner_client, body=json.dumps(GOOD), fault=fault)
    result = lines[-1]
    assert result["status"] == status and result["error"]["type"] == error_type
    assert error_type in result["html"]["result"]
    if fault == "429":
        assert result["error"]["retry_after"] > 0
        assert "retry-after" in result["html"]["result"]


@pytest.mark.asyncio
async def test_it_breaks_a_stream_with_an_error_event_on_purpose(learner_client):
    body = json.dumps(GOOD | {"stream": True})
    _, _, lines = await stream(learner_client, body=body, fault="stream_error")
    *events, result = lines
    assert events[0]["event"] == "message_start" and events[-1]["event"] == "error"
    assert "message_stop" not in [e["event"] for e in events]
    assert result["error"]["type"] == "overloaded_error"


@pytest.mark.asyncio
async def test_it_refuses_a_second_run_while_one_is_going(learner_client):
    user = await get_user_model().objects.aget(username="ada")
    await cache.aadd(guards.LOCK_KEY.format(user.pk), 1)
    _, _, [result] = await stream(learner_client, body=json.dumps(GOOD))
    assert result["status"] == 409 and result["error"]["type"] == "conflict_error"


@pytest.mark.asyncio
async def test_it_answers_404_for_an_exercise_the_lesson_does_not_have(learner_client):
    response = await learner_client.post(STREAM, {"exercise": "nope", "body": "{}"})
    assert response.status_code == 404


# The form without JavaScript, and the lesson page.


def test_the_lesson_page_puts_a_sandbox_in_place_of_each_exercise_and_one_at_the_end():
    lesson = catalogue().get("messages-api")
    html = Client().get(LESSON).content.decode()
    assert 'class="exercise-slot"' not in html
    for exercise in lesson.exercises:
        assert f'id="exercise-{exercise.id}"' in html
    assert 'id="sandbox"' in html and html.count("data-sandbox") == len(lesson.exercises) + 1
    assert 'aria-label="Hints"' in html and 'role="status"' in html
    assert "Exercises passed: 0 of" in html


def test_the_form_asks_an_anonymous_visitor_to_sign_in_and_keeps_the_draft():
    draft = '{"model": "claude-haiku-5-5", "max_tokens": 99, "messages": []}'
    response = Client().post(RUN, {"exercise": "", "body": draft, "action": "run"})
    assert response.status_code == 403
    html = response.content.decode()
    assert "Sign in to run requests" in html
    assert "&quot;max_tokens&quot;: 99" in html
    assert Attempt.objects.count() == 0


def test_the_form_runs_a_request_and_shows_the_result_and_verdict():
    client = Client()
    client.force_login(make_learner())
    exercise = first_exercise()
    response = client.post(
        RUN, {"exercise": exercise.id, "body": exercise.solution, "action": "run"}
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert "Passed." in html and "end_turn" in html
    assert Attempt.objects.get().passed is True


def hints_in(html: str, anchor: str) -> list[str]:
    """The hints a sandbox shows, by their numbers."""
    if f'id="{anchor}-hints"' in html:  # a page, not the region htmx swaps in
        html = html[html.index(f'id="{anchor}-hints"') :].split("</ol>")[0]
    return re.findall(r"<strong>(Hint \d+)\.</strong>", html)


def test_the_form_shows_the_next_hint_and_resets_to_the_starter_keeping_it():
    exercise = first_exercise()
    anchor = f"exercise-{exercise.id}"
    client = Client()
    data = {"exercise": exercise.id, "body": "{}", "action": "hint"}
    html = client.post(RUN, data).content.decode()
    assert hints_in(html, anchor) == ["Hint 1"]
    html = client.post(RUN, data | {"action": "reset"}).content.decode()
    assert hints_in(html, anchor) == ["Hint 1"]  # seen stays seen
    assert "&quot;Explain what an HTTP header is" in html
    assert hints_in(client.get(LESSON).content.decode(), anchor) == ["Hint 1"]


def test_show_a_hint_with_htmx_reveals_the_next_one_and_a_reload_keeps_them():
    exercise = first_exercise()
    anchor = f"exercise-{exercise.id}"
    client = Client()
    client.force_login(make_learner())
    htmx = {"HX-Request": "true"}
    for shown in range(1, len(exercise.hints) + 1):
        response = client.post(HINT, {"exercise": exercise.id}, headers=htmx)
        html = response.content.decode()
        assert response.status_code == 200
        assert hints_in(html, anchor) == [f"Hint {n}" for n in range(1, shown + 1)]
        button = html[html.index(f'id="{anchor}-hint-button"') :].split(">")[0]
        assert 'hx-swap-oob="true"' in button
        assert ("disabled" in button) is (shown == len(exercise.hints))
    page = client.get(LESSON).content.decode()
    assert hints_in(page, anchor) == [f"Hint {n}" for n in range(1, len(exercise.hints) + 1)]
    assert HintTrack.objects.get().shown == len(exercise.hints)

    other = Client()  # another learner starts with none
    other.force_login(make_learner("bob"))
    assert hints_in(other.get(LESSON).content.decode(), anchor) == []


def test_the_playground_has_no_hints_to_show():
    response = Client().post(HINT, {"exercise": ""}, headers={"HX-Request": "true"})
    assert response.status_code == 404


@pytest.mark.asyncio
async def test_a_failed_run_and_show_a_hint_count_on_one_track(learner_client):
    exercise = first_exercise()
    anchor = f"exercise-{exercise.id}"
    response = await learner_client.post(HINT, {"exercise": exercise.id})
    assert hints_in(response.content.decode(), anchor) == ["Hint 1"]
    wrong = exercise.solution.replace('"max_tokens": 1024', '"max_tokens": 0')
    _, _, lines = await stream(learner_client, exercise=exercise.id, body=wrong)
    verdict = lines[-1]["verdict"]
    assert verdict["hints_shown"] == 2 and verdict["hint"] == exercise.hints[1]
    assert "<strong>Hint 2:</strong>" in lines[-1]["html"]["verdict"]
    assert hints_in(lines[-1]["html"]["hints"], anchor) == ["Hint 1", "Hint 2"]
    response = await learner_client.post(HINT, {"exercise": exercise.id})
    assert hints_in(response.content.decode(), anchor) == ["Hint 1", "Hint 2", "Hint 3"]


@pytest.mark.asyncio
async def test_the_starter_run_the_task_asks_for_uses_no_hint(learner_client):
    exercise = first_exercise()  # "Run it as it is and read what comes back"
    _, _, lines = await stream(learner_client, exercise=exercise.id, body=exercise.starter)
    result = lines[-1]
    verdict_html = page_text_of(result["html"]["verdict"])
    assert result["verdict"]["starter"] is True and result["verdict"]["hint"] is None
    assert "hints" not in result["html"]
    assert "That was the starter, unchanged, so it used no hint." in verdict_html
    # It is the API that refused it: that error leads, then the first check, then the field.
    assert verdict_html.index(
        "The API refused the request (400 invalid_request_error): max_tokens"
    ) < (verdict_html.index("The request was refused, so no message was created."))
    assert f"Check 1 of {len(exercise.checks)}" in verdict_html
    assert "Look at: max_tokens (not in the request yet)" in verdict_html
    assert await HintTrack.objects.acount() == 0


@pytest.mark.asyncio
async def test_a_run_the_site_refused_shows_not_graded_and_who_answered(learner_client):
    exercise = first_exercise()
    _, _, [result] = await stream(learner_client, exercise=exercise.id, body='{"model": ')
    verdict_html = page_text_of(result["html"]["verdict"])
    assert verdict_html.startswith("Not graded: The request body is not valid JSON")
    assert "it is not a try and uses no hint" in verdict_html
    assert "Not yet" not in verdict_html and "Hint" not in verdict_html
    assert "This site, which refused it" in page_text_of(result["html"]["result"])
    assert "Claude (live)" not in result["html"]["result"]
    attempt = await Attempt.objects.aget()
    assert attempt.refused_by_site is True and attempt.passed is None


@pytest.mark.asyncio
async def test_the_sites_rate_limit_is_not_graded(learner_client, settings):
    settings.SANDBOX_RUNS_PER_MINUTE = 0
    exercise = first_exercise()
    _, _, [result] = await stream(learner_client, exercise=exercise.id, body=exercise.solution)
    assert result["status"] == 429
    assert page_text_of(result["html"]["verdict"]).startswith("Not graded: You have made 0 runs")
    assert await Attempt.objects.acount() == 0 and await HintTrack.objects.acount() == 0


@pytest.mark.asyncio
async def test_the_verdict_says_which_part_of_the_task_the_failed_check_is_about(
    learner_client,
):
    check = {
        "expect": "request.system",
        "exists": True,
        "part": "the system prompt",
        "message": "Put the format rule in the system prompt, where it applies to every turn.",
    }
    exercise = dataclasses.replace(first_exercise(), checks=(compile_check(check),))
    user = await get_user_model().objects.aget(username="ada")
    lesson = catalogue().get("messages-api")
    body = json.loads(exercise.starter) | {"max_tokens": 32}
    items = runner.run(user=user, lesson=lesson, exercise=exercise, body_text=json.dumps(body))
    result = [item async for item in items][-1]
    request = RequestFactory().post(STREAM)
    request.user = user
    html = await sync_to_async(partials.render_result)(result, request, lesson, exercise)
    text = page_text_of(html["verdict"])
    assert text.startswith("Not yet. Put the format rule in the system prompt")
    assert "Check 1 of 1 Part of the task: the system prompt" in text
    assert "Look at: system (not in the request yet)" in text
    assert 'data-field="system"' in html["verdict"]
    assert "Hint 1:" in text and "Hint 1." in page_text_of(html["hints"])


def test_the_form_without_javascript_shows_the_first_failing_check_and_its_field():
    exercise = first_exercise()
    client = Client()
    client.force_login(make_learner())
    wrong = exercise.solution.replace('"max_tokens": 1024', '"max_tokens": 0')
    text = page_text(client.post(RUN, {"exercise": exercise.id, "body": wrong, "action": "run"}))
    assert "Not yet. max_tokens needs a positive whole number" in text
    assert f"Check 2 of {len(exercise.checks)}" in text and "Look at: max_tokens" in text
    if part := exercise.checks[1].part:
        assert f"Part of the task: {part}" in text
    assert "Claude was cut off" not in text  # the first failing check only
    assert "Hint 1:" in text


def test_the_form_without_javascript_says_not_graded_and_keeps_the_body():
    exercise = first_exercise()
    client = Client()
    client.force_login(make_learner())
    broken = '{"model": "claude-haiku-5-5", "max_tokens": 5,'
    text = page_text(client.post(RUN, {"exercise": exercise.id, "body": broken, "action": "run"}))
    assert "Not graded: The request body is not valid JSON" in text
    assert "Hint 1" not in text
    assert broken in page_text(client.get(LESSON))  # the body is there after a reload too


def test_get_code_gives_python_and_curl_without_the_key(settings):
    settings.ANTHROPIC_API_KEY = "sk-ant-secret-never-shown"
    response = Client().post(CODE, {"body": json.dumps(GOOD)}, headers={"HX-Request": "true"})
    html = page_text(response)
    assert "client = anthropic.Anthropic()" in html
    assert 'curl "${ANTHROPIC_BASE_URL:-https://api.anthropic.com}/v1/messages"' in html
    assert "$ANTHROPIC_API_KEY" in html and "sk-ant-secret" not in html


def test_get_code_explains_invalid_json_with_its_line_and_column():
    response = Client().post(CODE, {"body": '{"model": }'}, headers={"HX-Request": "true"})
    assert "line 1, column 11" in response.content.decode()


def test_a_learner_never_sees_another_learners_attempts():
    exercise = first_exercise()
    secret = exercise.solution.replace("HTTP header", "HTTP header, says ada")
    ada = Client()
    ada.force_login(make_learner("ada"))
    ada.post(RUN, {"exercise": exercise.id, "body": secret, "action": "run"})
    assert "says ada" in ada.get(LESSON).content.decode()

    bob = Client()
    bob.force_login(make_learner("bob"))
    html = bob.get(LESSON).content.decode()
    assert "says ada" not in html
    assert "Exercises passed: 0 of" in html
    assert "Exercises 1/" in ada.get("/").content.decode()
    assert "Exercises 0/" in bob.get("/").content.decode()


# The live path: the real SDK against the local fake server, charged to the shared allowance.


@pytest_asyncio.fixture
async def live(online):
    yield online
    await claude.aclose()  # this loop's SDK client and its connections


@pytest.mark.asyncio
async def test_a_live_run_streams_claudes_events_and_shows_the_allowance_left(
    learner_client, live, settings
):
    settings.TUTOR_MESSAGES_PER_DAY = 5
    status, _, lines = await stream(learner_client, body=json.dumps(GOOD | {"stream": True}))
    *events, result = lines
    assert status == 200 and result["mode"] == "live" and result["status"] == 200
    assert "ping" in [e["event"] for e in events] and events[-1]["event"] == "message_stop"
    assert result["response"]["content"][0]["text"].startswith("You asked about: Say hello")
    assert live.requests[-1].body["messages"] == GOOD["messages"]
    assert "Claude (live)" in result["html"]["result"]
    assert "4 tutor questions or live sandbox runs left today" in result["allowance_html"]


@pytest.mark.asyncio
async def test_a_learner_over_budget_is_told_to_wait_and_claude_is_not_called(
    learner_client, live, settings
):
    settings.TUTOR_MESSAGES_PER_DAY = 0
    _, _, [result] = await stream(learner_client, body=json.dumps(GOOD))
    assert result["status"] == 429 and result["error"]["type"] == "rate_limit_error"
    assert "daily limit" in result["error"]["message"] and "429" in result["html"]["result"]
    assert "0 tutor questions or live sandbox runs left today" in result["allowance_html"]
    assert live.requests == []


def test_the_page_labels_the_sandbox_live_or_simulator(settings):
    settings.SANDBOX_MODE = "simulator"
    settings.TUTOR_MESSAGES_PER_DAY = 100
    client = Client()
    client.force_login(make_learner())
    html = client.get(LESSON).content.decode()
    assert ">Simulator<" in html and "Live: calls Claude" not in html
    settings.SANDBOX_MODE = "live"
    html = client.get(LESSON).content.decode()
    assert "Live: calls Claude" in html and ">Simulator<" not in html
    # One allowance, in the same words beside the sandbox and in the tutor (which sandbox.js
    # updates after each live run, through the same data-role).
    shown = re.findall(r'data-role="allowance">([^<]*)<', html)
    assert len(shown) >= 2 and set(shown) == {"100 tutor questions or live sandbox runs left today"}


def test_the_form_gets_code_without_javascript():
    data = {"exercise": "", "body": json.dumps(GOOD), "action": "code"}
    text = page_text(Client().post(RUN, data))
    assert "message = client.messages.create(" in text and '--header "x-api-key' in text
