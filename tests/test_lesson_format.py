from __future__ import annotations

from pathlib import Path

import pytest

from course.lesson_format import LessonInvalid
from course.lessons import parse_lesson
from tests.lesson_files import lesson_text

PATH = Path("lessons/99-tiny.md")


def line_of(text: str, needle: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), start=1) if needle in line)


def problems(text: str) -> list[str]:
    with pytest.raises(LessonInvalid) as caught:
        parse_lesson(text, PATH)
    return [str(problem) for problem in caught.value.problems]


def test_it_parses_a_valid_lesson():
    lesson = parse_lesson(lesson_text(), PATH)
    assert lesson.slug == "tiny"
    assert lesson.title == "Tiny lesson"
    assert [q.answer for q in lesson.quiz] == ["b", "a", "a"]
    assert lesson.tutor.starters[0] == "What is the tiny thing?"
    assert lesson.tutor.enabled is True
    assert lesson.tutor.mode == "socratic"


def test_it_reports_a_missing_front_matter():
    assert problems("## Just a body\n") == [
        "lessons/99-tiny.md:1: the file must start with '---' and YAML front matter"
    ]


def test_it_reports_an_unclosed_front_matter():
    assert "no closing '---'" in problems("---\ntitle: x\n")[0]


def test_it_reports_invalid_yaml_with_its_line():
    text = lesson_text(**{"summary: A lesson used by the tests.": "summary: [unclosed"})
    (problem,) = problems(text)
    line = line_of(text, "summary: [unclosed")
    assert problem.startswith(f"lessons/99-tiny.md:{line + 1}: front matter is not valid YAML")


def test_it_reports_a_missing_key():
    text = lesson_text(**{"minutes: 5\n": ""})
    assert "lessons/99-tiny.md:2: missing required key 'minutes'" in problems(text)


def test_it_reports_an_unknown_key_at_its_line():
    text = lesson_text(**{"minutes: 5": "minutes: 5\nobjectivs: [typo]"})
    line = line_of(text, "objectivs")
    assert any(
        p.startswith(f"lessons/99-tiny.md:{line}: unknown key 'objectivs'") for p in problems(text)
    )


def test_it_reports_a_quiz_answer_that_is_not_a_choice():
    text = lesson_text(**{"answer: b\n": "answer: c\n"})
    (problem,) = problems(text)
    line = line_of(text, "answer: c")
    assert problem == (
        f"lessons/99-tiny.md:{line}: quiz question 1: answer 'c' is not one of the choices (a, b)"
    )


def test_it_reports_a_bad_slug_and_order():
    text = lesson_text(slug="Not A Slug", order=0)
    found = problems(text)
    assert (
        "lessons/99-tiny.md:3: slug must use lowercase letters, digits and single hyphens" in found
    )
    assert "lessons/99-tiny.md:4: order must be a whole number of 1 or more" in found


def test_it_reports_too_few_starters_and_a_bad_mode():
    text = lesson_text(
        **{"    - Where does it live?\n": "", "  focus:": "  mode: lecture\n  focus:"}
    )
    found = problems(text)
    assert any("tutor.starters must be a list of 3 to 5 items" in p for p in found)
    assert any("tutor.mode must be one of: socratic, explain" in p for p in found)


def test_it_reports_an_h1_and_a_skipped_heading_level_with_lines():
    text = lesson_text(**{"## Second section": "# Big title\n\n#### Deep"})
    found = problems(text)
    h1, h4 = line_of(text, "# Big title"), line_of(text, "#### Deep")
    assert (
        f"lessons/99-tiny.md:{h1}: '# Big title': start headings at '##' (the title is the page's h1)"
        in found
    )
    assert f"lessons/99-tiny.md:{h4}: heading 'Deep' skips from h1 to h4" in found


def test_it_reports_an_unknown_placeholder():
    text = lesson_text(**{"More text.": "{{ price_list }}"})
    line = line_of(text, "{{ price_list }}")
    assert problems(text) == [
        f"lessons/99-tiny.md:{line}: unknown placeholder '{{{{ price_list }}}}': "
        "use model.<ref>.<field>, price, cost, multiplier, lifecycle or models_table"
    ]


def test_it_requires_the_date_the_facts_were_checked_and_their_sources():
    text = lesson_text(**{"facts_checked: 2026-11-26\n": ""})
    text = text.split("sources:")[0] + "---" + text.split("---", 2)[2]
    found = problems(text)
    assert "lessons/99-tiny.md:2: missing required key 'facts_checked'" in found
    assert "lessons/99-tiny.md:2: missing required key 'sources'" in found


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (
            "facts_checked: 2026-11-26",
            "facts_checked: last week",
            "facts_checked must be a date (YYYY-MM-DD)",
        ),
        (
            "facts_checked: 2026-11-26",
            "facts_checked: 2999-01-01",
            "facts_checked is in the future",
        ),
        (
            "url: https://platform.claude.com/docs/en/api/messages",
            "url: https://example.com/blog",
            "source 1: url must be an official page under https://platform.claude.com/",
        ),
        ("  - title: Messages API\n", "  - title: ''\n", "source 1: title must be non-empty text"),
    ],
)
def test_it_checks_the_facts_checked_date_and_the_sources(old, new, message):
    text = lesson_text(**{old: new})
    line = line_of(text, new.strip().splitlines()[0])
    assert f"lessons/99-tiny.md:{line}: {message}" in problems(text)


def test_it_keeps_the_date_and_sources_on_the_lesson():
    lesson = parse_lesson(lesson_text(), PATH)
    assert f"{lesson.facts_checked:%Y-%m-%d}" == "2026-11-26"
    assert [(s.title, s.url) for s in lesson.sources] == [
        ("Messages API", "https://platform.claude.com/docs/en/api/messages")
    ]
