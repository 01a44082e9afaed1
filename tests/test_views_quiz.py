from __future__ import annotations

import pytest

from course.lessons import catalogue

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true"}
URL = "/lessons/messages-api/quiz/1/"


@pytest.fixture
def question():
    return catalogue().get("messages-api").quiz[0]


def wrong_choice(question) -> str:
    return next(key for key in question.choices if key != question.answer)


def test_a_right_answer_returns_the_question_partial(client, question):
    response = client.post(URL, {"choice": question.answer}, **HX)
    assert response.status_code == 200
    html = response.content.decode()
    assert html.lstrip().startswith('<form id="question-1"')
    assert "Correct." in html
    assert "<h1" not in html  # a partial, not the page


def test_a_wrong_answer_says_so_and_explains(client, question):
    response = client.post(URL, {"choice": wrong_choice(question)}, **HX)
    html = response.content.decode()
    assert response.status_code == 200
    assert "Not quite." in html
    assert "is-wrong" in html


def test_the_explanation_is_shown_after_answering(client, question):
    html = client.post(URL, {"choice": question.answer}, **HX).content.decode()
    first_words = question.explanation.split("`")[0][:30]
    assert first_words in html


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({}, "Pick one of the answers, then check it."),
        ({"choice": "zz"}, "That is not one of the answers."),
        ({"choice": "<script>"}, "That is not one of the answers."),
    ],
)
def test_a_malformed_answer_is_a_clear_422(client, data, message):
    response = client.post(URL, data, **HX)
    assert response.status_code == 422
    assert message in response.content.decode()


def test_a_malformed_answer_without_javascript_shows_the_page_with_the_error(client):
    response = client.post(URL, {})
    assert response.status_code == 422
    html = response.content.decode()
    assert "<h1" in html and "Pick one of the answers, then check it." in html


def test_an_answer_without_javascript_redirects_back_to_the_question(client, question):
    response = client.post(URL, {"choice": question.answer})
    assert response.status_code == 302
    assert response["Location"] == "/lessons/messages-api/#question-1"
    page = client.get("/lessons/messages-api/").content.decode()
    assert "Correct." in page


def test_an_unknown_question_or_lesson_is_404(client):
    assert client.post("/lessons/messages-api/quiz/99/", {"choice": "a"}, **HX).status_code == 404
    assert client.post("/lessons/messages-api/quiz/0/", {"choice": "a"}, **HX).status_code == 404
    assert client.post("/lessons/nope/quiz/1/", {"choice": "a"}, **HX).status_code == 404


def test_answering_needs_a_post(client):
    assert client.get(URL).status_code == 405


def test_a_post_without_csrf_token_is_refused(question):
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    assert strict.post(URL, {"choice": question.answer}).status_code == 403
