from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true"}


def test_home_lists_the_four_lessons_in_order(client):
    response = client.get("/")
    assert response.status_code == 200
    html = response.content.decode()
    titles = [
        "The Messages API",
        "System prompts and prompt caching",
        "Models, tokens and sampling",
        "Streaming and error handling",
    ]
    positions = [html.index(title) for title in titles]
    assert positions == sorted(positions)
    assert "0 of 4 lessons complete" in html
    assert 'href="/lessons/messages-api/"' in html


def test_a_lesson_page_has_contents_code_quiz_and_navigation(client):
    response = client.get("/lessons/system-prompts-and-caching/")
    assert response.status_code == 200
    html = response.content.decode()
    assert '<h1 id="lesson-title">System prompts and prompt caching</h1>' in html
    assert 'aria-label="On this page"' in html and 'href="#knowledge-check"' in html
    assert '<code class="language-python">' in html
    assert 'hx-post="/lessons/system-prompts-and-caching/quiz/1/"' in html
    assert 'action="/lessons/system-prompts-and-caching/quiz/1/"' in html  # works without JS
    assert 'rel="prev" href' not in html and 'href="/lessons/messages-api/" rel="prev"' in html
    assert 'href="/lessons/models-tokens-and-sampling/" rel="next"' in html
    assert "Mark as complete" in html


def test_the_first_and_last_lessons_have_one_neighbour(client):
    first = client.get("/lessons/messages-api/").content.decode()
    last = client.get("/lessons/streaming-and-errors/").content.decode()
    assert 'rel="prev"' not in first
    assert 'rel="next"' not in last and "Back to the course" in last


def test_an_unknown_lesson_is_a_friendly_404(client):
    response = client.get("/lessons/no-such-lesson/")
    assert response.status_code == 404
    assert "We couldn't find that page" in response.content.decode()
    assert 'href="/"' in response.content.decode()


def test_a_broken_lesson_file_never_reaches_a_learner_as_a_500(client, lessons_dir):
    (lessons_dir / "01-broken.md").write_text("---\ntitle: [unclosed\n---\n## Hi\n")
    assert client.get("/").status_code == 200
    assert client.get("/lessons/broken/").status_code == 404


def test_a_lesson_page_sets_up_a_session_for_the_tutor(client):
    client.get("/lessons/messages-api/")
    assert client.session.session_key


def test_a_lesson_page_says_when_its_facts_were_checked_and_against_what(client):
    html = client.get("/lessons/streaming-and-errors/").content.decode()
    assert '<p class="facts-checked">' in html
    assert '<time datetime="2026-12-06">6 December 2026</time>' in html
    link = (
        '<a href="https://platform.claude.com/docs/en/build-with-claude/streaming" rel="noopener">'
    )
    assert f"{link}Streaming messages</a>" in html
