"""What makes a lesson read well at every width: the markup the CSS and lesson.js build on."""

from __future__ import annotations

from html.parser import HTMLParser
from urllib.parse import parse_qs, urlsplit

import pytest

from course.lessons import catalogue
from course.markdown import render_untrusted
from tests.users import make_user

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true"}
MODELS = "/lessons/models-tokens-and-sampling/"


def test_the_models_table_labels_every_cell_for_the_phone_cards(client):
    html = client.get(MODELS).content.decode()
    assert '<table class="table-models">' in html
    assert 'aria-label="Table: The models table"' in html
    assert '<td data-label="Input">$5.00</td>' in html  # cents, like every price list
    assert '<td data-label="Cache write (5 min / 1 h)">$0.125 / $0.20</td>' in html


def test_code_blocks_and_table_scrollers_can_be_reached_from_the_keyboard(client):
    html = client.get(MODELS).content.decode()
    assert html.count('<pre tabindex="0">') >= 3
    assert html.count('class="table-scroll" tabindex="0" role="region"') >= 2


def test_a_reply_keeps_its_table_scroller_but_nothing_a_model_could_inject():
    html = render_untrusted(
        "## Costs\n\n| a | b |\n|---|---|\n| <b onclick=x>1</b> | 2 |\n\n```\ncode\n```\n"
    )
    assert '<div class="table-scroll" tabindex="0" role="region" aria-label="Table: Costs">' in html
    assert '<td data-label="a">&lt;b onclick=x&gt;1&lt;/b&gt;</td>' in html
    assert '<pre tabindex="0"><code>code' in html


def test_the_lesson_title_comes_before_its_folded_contents(client):
    html = client.get("/lessons/messages-api/").content.decode()
    title, compact = html.index('id="lesson-title"'), html.index('class="toc-compact"')
    assert title < compact < html.index('class="prose"')
    details = html[compact : html.index("</details>", compact)]
    assert "<details>" in details  # closed until the learner opens it


def test_a_new_visitor_is_invited_to_start_lesson_one(client):
    html = client.get("/").content.decode()
    assert "Start lesson 1" in html and "Continue lesson" not in html


def test_a_returning_learner_continues_with_the_first_lesson_not_yet_complete(client):
    client.post("/lessons/messages-api/complete/", {"complete": "1"})
    html = client.get("/").content.decode()
    assert "Continue lesson 2" in html and "Start lesson" not in html
    assert '<span class="lesson-number" aria-hidden="true">✓</span>' in html


def test_a_learner_who_finished_every_lesson_is_told_so(client):
    for lesson in catalogue().lessons:
        client.post(f"/lessons/{lesson.slug}/complete/", {"complete": "1"})
    html = client.get("/").content.decode()
    assert "You completed every lesson." in html
    assert "Continue lesson" not in html


def test_the_quiz_says_how_many_questions_are_answered(client):
    lesson = catalogue().get("messages-api")
    total = len(lesson.quiz)
    assert f"0 of {total} answered" in client.get("/lessons/messages-api/").content.decode()
    question = lesson.quiz[0]
    html = client.post(
        "/lessons/messages-api/quiz/1/", {"choice": question.answer}, **HX
    ).content.decode()
    assert 'id="quiz-progress" class="quiz-progress" hx-swap-oob="true"' in html
    assert f"1 of {total} answered</strong> · 1 right" in html


def test_a_learner_without_access_gets_the_styled_403_page(client):
    client.force_login(make_user("ada"))
    response = client.get("/instructor/lessons/")
    assert response.status_code == 403
    html = response.content.decode()
    assert "You can't open this page" in html and "ada" in html
    assert 'class="site-header"' in html


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: dict[str, str] = {}
        self._href: str | None = None

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag == "a":
            self._href = dict(attrs).get("href")

    def handle_data(self, data: str) -> None:
        if self._href and data.strip():
            self.links[data.strip()] = self._href
            self._href = None


def test_an_anonymous_starter_question_invites_sign_up_and_waits_in_the_box(client):
    starter = catalogue().get("messages-api").tutor.starters[0]
    parser = _Links()
    parser.feed(client.get("/lessons/messages-api/").content.decode())
    signup = urlsplit(parser.links[starter])
    assert signup.path == "/accounts/signup/"
    (next_url,) = parse_qs(signup.query)["next"]

    password = "a long pass phrase"
    form = {"username": "ada", "password1": password, "password2": password, "next": next_url}
    response = client.post("/accounts/signup/", form, follow=True)
    assert response.redirect_chain[-1][0] == next_url
    assert next_url.endswith("#tutor")
    assert f"autofocus>{starter}</textarea>" in response.content.decode()
