from __future__ import annotations

import os
import socket
from decimal import Decimal
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.utils.html import escape

from course.lessons import catalogue
from course.model_catalogue import model_data
from tests.fake_anthropic import tokens as fake_tokens
from tests.lesson_files import lesson_text, write
from tests.users import make_user
from tutor.instructor import prefix_costs, price
from tutor.models import Conversation, PromptVersion
from tutor.prompts import prompt_tokens, system_blocks, system_json

pytestmark = pytest.mark.django_db

PREVIEW = "/instructor/lessons/messages-api/"


def instructor(username: str = "ines"):
    user = make_user(username)
    user.groups.add(Group.objects.get(name="Instructors"))
    return user


def used_in_a_conversation(slug: str, text: str) -> None:
    """Record a tutor reply of this lesson that sent the system prompt `text`."""
    conversation = Conversation.objects.current_for(make_user("learner"), slug)
    question = conversation.messages.create(role="user", text="What is a token?")
    conversation.messages.create(
        role="assistant",
        reply_to=question,
        text="A piece of text.",
        model="claude-haiku-5-5",
        prompt=PromptVersion.for_text(slug, text),
    )


def tiny_lesson(lessons_dir: Path, **replace: str) -> Path:
    return write(lessons_dir / "01-tiny.md", lesson_text(**replace))


@pytest.fixture
def instructor_client(client):
    client.force_login(instructor())
    return client


def preview_html(client, url: str = PREVIEW) -> str:
    response = client.get(url)
    assert response.status_code == 200
    return response.content.decode()


def test_anonymous_visitors_are_sent_to_log_in(client):
    for url in ("/instructor/lessons/", PREVIEW, "/instructor/lessons/nope/"):
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"] == f"/accounts/login/?next={url}"


def test_staff_without_the_permission_are_refused(client):
    staff = make_user("sam")
    staff.is_staff = True
    staff.save()
    client.force_login(staff)
    assert client.get("/instructor/lessons/").status_code == 403
    assert client.get(PREVIEW).status_code == 403


def test_instructors_can_open_the_index_and_the_preview(instructor_client):
    assert instructor_client.get("/instructor/lessons/").status_code == 200
    assert instructor_client.get(PREVIEW).status_code == 200


def test_superusers_can_open_the_preview(client):
    client.force_login(get_user_model().objects.create_superuser("boss", password="x"))
    assert client.get(PREVIEW).status_code == 200


def test_an_unknown_lesson_is_a_404(instructor_client):
    assert instructor_client.get("/instructor/lessons/nope/").status_code == 404


def test_it_accepts_only_get(instructor_client):
    assert instructor_client.post(PREVIEW).status_code == 405


def test_the_header_links_instructors_to_the_index_and_nobody_else(client):
    client.force_login(make_user())
    assert 'href="/instructor/lessons/"' not in client.get("/").content.decode()
    client.force_login(instructor())
    assert 'href="/instructor/lessons/">Instructor</a>' in client.get("/").content.decode()


def test_the_index_lists_every_lesson_with_its_size_and_cacheability(instructor_client):
    html = preview_html(instructor_client, "/instructor/lessons/")
    for lesson in catalogue().lessons:
        assert f'href="/instructor/lessons/{lesson.slug}/"' in html
        assert f"≈ {prompt_tokens(lesson):,} tokens" in html
    assert html.count(">cacheable</span>") == 4
    assert html.count("never used") == 4


def test_it_shows_the_exact_system_prompt_the_mode_and_the_lesson(instructor_client):
    html = preview_html(instructor_client)
    lesson = catalogue().get("messages-api")
    for block in system_blocks(lesson):
        assert f"<code>{escape(block['text'])}</code></pre>" in html
    assert "cache_control: <code>{&quot;type&quot;: &quot;ephemeral&quot;}</code>" in html
    assert f"<strong>{lesson.tutor.mode}</strong> mode" in html
    assert "<code>tutor.enabled</code>" in html and "<code>tutor.mode</code>" in html
    assert "part of the first system block, so they belong to the cached prefix" in html
    assert f'<div class="prose">{lesson.html}</div>' in html


def test_it_shows_the_explain_mode_from_the_front_matter(instructor_client, lessons_dir):
    tiny_lesson(lessons_dir, **{"tutor:\n": "tutor:\n  mode: explain\n"})
    html = preview_html(instructor_client, "/instructor/lessons/tiny/")
    assert "<strong>explain</strong> mode" in html and "Mode: explain." in html


def test_without_a_key_the_token_count_is_an_estimate(instructor_client):
    html = preview_html(instructor_client)
    tokens = prompt_tokens(catalogue().get("messages-api"))
    assert f"<strong>{tokens:,} tokens</strong>, estimate (no API key set" in html
    assert "counted by the API" not in html


def test_with_a_key_the_api_counts_the_tokens(instructor_client, online):
    html = preview_html(instructor_client)
    blocks = system_blocks(catalogue().get("messages-api"))
    # The fake counts ceil(len / 4) per block, plus the one-word "Hi" the endpoint requires.
    expected = sum(fake_tokens(block["text"]) for block in blocks) + fake_tokens("Hi")
    assert f"<strong>{expected:,} tokens</strong>, counted by the API" in html
    (request,) = online.requests
    assert request.path == "/v1/messages/count_tokens"
    assert request.body == {
        "model": "claude-haiku-5-5",
        "system": blocks,
        "messages": [{"role": "user", "content": "Hi"}],
    }


def test_when_the_api_cannot_count_it_falls_back_to_the_estimate(
    instructor_client, online, monkeypatch
):
    with socket.socket() as closed:  # a port nobody listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    monkeypatch.setenv("ANTHROPIC_BASE_URL", f"http://127.0.0.1:{port}")
    html = preview_html(instructor_client)
    tokens = prompt_tokens(catalogue().get("messages-api"))
    assert f"<strong>{tokens:,} tokens</strong>, estimate (the API could not count it:" in html
    assert "counted by the API" not in html


def test_a_tiny_lesson_is_not_cacheable_on_a_model_with_a_high_minimum(
    instructor_client, lessons_dir, settings
):
    tiny_lesson(lessons_dir)
    settings.TUTOR_MODEL = "claude-haiku-4-5"
    html = preview_html(instructor_client, "/instructor/lessons/tiny/")
    assert "Not cacheable" in html and ">not cacheable</span>" in html
    assert "Claude Haiku 4.5 (<code>claude-haiku-4-5</code>)" in html
    assert "below Claude Haiku 4.5&#x27;s minimum of 4,096 tokens" in html
    assert "every request pays the uncached price" in html


def test_a_real_lesson_is_cacheable_with_the_default_model(instructor_client):
    html = preview_html(instructor_client)
    assert "Cacheable" in html and ">cacheable</span>" in html
    assert "Claude Haiku 5.5 (<code>claude-haiku-5-5</code>)" in html
    assert "above Claude Haiku 5.5&#x27;s minimum of 512 tokens" in html


def test_the_costs_come_from_the_model_data_file(instructor_client):
    html = preview_html(instructor_client)
    tokens = prompt_tokens(catalogue().get("messages-api"))
    model = model_data().get("claude-haiku-5-5")
    for label, per_million in (
        ("One cache write (5-minute lifetime)", model.cache_write_5m),
        ("One cache read", model.cache_read),
        ("Sent uncached", model.input),
    ):
        dollars = Decimal(tokens) * per_million / 1_000_000
        assert f'<th scope="row">{label}</th><td>${dollars:.6f}</td>' in html
    assert "Break-even:" in html


def test_prefix_costs_match_a_hand_computation():
    # 10,000 tokens on Claude Haiku 5.5: $0.125, $0.01 and $0.10 per million tokens.
    costs = prefix_costs(10_000, model_data().get("claude-haiku-5-5"))
    assert (costs.write_5m, costs.read, costs.uncached) == (
        Decimal("0.001250"),
        Decimal("0.000100"),
        Decimal("0.001000"),
    )
    # Two questions: write + read = $0.00135, uncached twice = $0.002.
    assert costs.break_even == (
        "Break-even: a write costs 1.25× the input price and a read 0.1×, so once 2 questions "
        "arrive less than 5 minutes apart, one write plus 1 read ($0.001350) cost less than "
        "2 uncached sends ($0.002000)."
    )


def test_prices_read_as_dollars_per_million_tokens(instructor_client):
    assert [price(Decimal(p)) for p in ("0.1", "0.125", "0.01", "5", "12.50")] == [
        "$0.10",
        "$0.125",
        "$0.01",
        "$5.00",
        "$12.50",
    ]
    assert "at $0.125 per million tokens" in preview_html(instructor_client)


def test_the_diff_says_when_no_conversation_used_the_tutor(instructor_client):
    html = preview_html(instructor_client)
    assert "No real conversation has used this lesson's tutor yet" in html


def test_the_diff_says_nothing_changed_since_the_last_use(instructor_client):
    lesson = catalogue().get("messages-api")
    used_in_a_conversation("messages-api", system_json(system_blocks(lesson)))
    html = preview_html(instructor_client)
    assert "No change since" in html and "<ins>" not in html
    assert "unchanged" in preview_html(instructor_client, "/instructor/lessons/")


def test_the_diff_shows_the_lines_an_edit_added_and_removed(instructor_client, lessons_dir):
    path = tiny_lesson(lessons_dir)
    used_in_a_conversation("tiny", system_json(system_blocks(catalogue().get("tiny"))))
    before = path.stat().st_mtime
    tiny_lesson(lessons_dir, **{"More text.": "Changed text.\n\nUse <system> & friends."})
    os.utime(path, (before + 10, before + 10))  # a new mtime, so the lesson is re-read
    html = preview_html(instructor_client, "/instructor/lessons/tiny/")
    assert "<strong>+3 lines, −1 line</strong>: the cached prefix will be rewritten" in html
    assert "<del>- More text.</del>" in html
    assert "<ins>+ Changed text.</ins>" in html
    assert "<ins>+ Use &lt;system&gt; &amp; friends.</ins>" in html  # escaped, never markup
    assert "## Second section" in html  # context around the change
    assert "+3 lines, −1 line" in preview_html(instructor_client, "/instructor/lessons/")


def test_a_switched_off_tutor_is_announced(instructor_client, lessons_dir):
    tiny_lesson(lessons_dir, **{"tutor:\n": "tutor:\n  enabled: false\n"})
    html = preview_html(instructor_client, "/instructor/lessons/tiny/")
    assert "The tutor is switched off for this lesson." in html
    assert "the tutor's websocket refuses connections" in html
    assert ">off</span>" in html


def test_a_switched_off_lesson_page_has_no_tutor_panel(client, lessons_dir):
    tiny_lesson(lessons_dir, **{"tutor:\n": "tutor:\n  enabled: false\n"})
    client.force_login(make_user())
    html = client.get("/lessons/tiny/").content.decode()
    assert "Tiny lesson" in html and 'id="tutor"' not in html


def test_a_lesson_page_with_the_tutor_on_has_the_panel(client, lessons_dir):
    tiny_lesson(lessons_dir)
    client.force_login(make_user())
    assert 'id="tutor"' in client.get("/lessons/tiny/").content.decode()


def test_the_preview_lists_each_exercise_with_its_solution_and_starter_results(
    instructor_client,
):
    html = preview_html(instructor_client)
    lesson = catalogue().get("messages-api")
    table = html[html.index('class="instructor-exercises"') :]
    for exercise in lesson.exercises:
        row = table[table.index(f"<code>{exercise.id}</code>") :].split("</tr>")[0]
        assert f"<td>{exercise.line}</td>" in row
        assert "passes</span> passes its" in row
        assert "Not yet: " in row  # every starter still has something to fix


def test_the_preview_shows_a_broken_exercise_with_file_and_line(lessons_dir, instructor_client):
    from tests.test_sandbox_exercises import EXERCISE

    path = write(lessons_dir / "01-tiny.md", lesson_text() + EXERCISE)
    assert "passes</span>" in preview_html(instructor_client, "/instructor/lessons/tiny/")
    path.write_text(lesson_text() + EXERCISE.replace("equals: end_turn", "equals: refusal"))
    os.utime(path, (path.stat().st_atime, path.stat().st_mtime + 5))
    html = preview_html(instructor_client, "/instructor/lessons/tiny/")
    assert "The lesson file has problems" in html
    assert escape("the solution does not pass its own check 1") in html
    # The site still serves the last good version; its row says what the banner says.
    table = html[html.index('class="instructor-exercises"') :]
    row = table[table.index("<code>first-request</code>") :].split("</tr>")[0]
    assert "fails</span>" in row and "passes its" not in row
    assert escape("the solution does not pass its own check 1") in row
