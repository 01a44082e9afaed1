"""The four real lessons: complete, valid, and free of the outline's known errors."""

from __future__ import annotations

import re

import pytest

from course.lessons import load_catalogue
from course.model_catalogue import model_data

SLUGS = [
    "messages-api",
    "system-prompts-and-caching",
    "models-tokens-and-sampling",
    "streaming-and-errors",
]


@pytest.fixture
def course():
    return load_catalogue()


def test_the_course_has_four_valid_lessons_in_order(course):
    assert course.problems == ()
    assert [lesson.slug for lesson in course.lessons] == SLUGS


@pytest.mark.parametrize("slug", SLUGS)
def test_each_lesson_teaches_with_code_a_table_and_a_quiz(course, slug):
    lesson = course.get(slug)
    words = len(re.sub(r"```.*?```", "", lesson.source, flags=re.S).split())
    assert 1500 <= words <= 3200, words
    assert "```python" in lesson.source and ("```bash" in lesson.source or "```sh" in lesson.source)
    assert "curl" in lesson.source
    assert "<table>" in lesson.html
    assert 3 <= len(lesson.quiz) <= 5 and 3 <= len(lesson.tutor.starters) <= 5


# Claims that api-facts.md's audit marks wrong or invented; none may come back.
FORBIDDEN = [
    (r"^(?!.*\b(never|not|invalid)\b).*claude-haiku-3-5", "an invalid model ID stated as real"),
    (r"Search API", "there is no Search API"),
    (r"hierarchical prompt trust", "an invented framework"),
    (r"30\s?% (fewer|reduction|less)", "an invented statistic"),
    (r"Notion", "an unverifiable anecdote"),
    (r"25\s?[×x] cheaper", "a wrong price ratio"),
    (r"photosynthesis", "an unverifiable token count"),
    (r"red team", "an unverifiable anecdote"),
    (r"1\.8 ?s(econds)?", "an unverifiable anecdote"),
    (r"status\.anthropic\.com", "an unverified status page"),
    (r"one of four (values|stop)", "there are seven stop reasons"),
    (r"(temperature|top_p|top_k)=", "sampling keyword arguments were removed from the SDK"),
    (r"\b(is|are) (fully |completely )?deterministic", "temperature 0 is not deterministic"),
]


def checked_lines(source: str):
    """Every line but those of a code block introduced as a counter-example ("This now fails")."""
    counterexample = in_fence = False
    recent = ""
    for number, line in enumerate(source.splitlines(), start=1):
        if line.startswith("```"):
            in_fence = not in_fence
            counterexample = in_fence and "now fails" in recent.lower()
        elif not in_fence and line.strip():
            recent = line
        if not counterexample:
            yield number, line


@pytest.mark.parametrize(("pattern", "why"), FORBIDDEN)
def test_no_lesson_repeats_an_error_from_the_outline(course, pattern, why):
    for lesson in course.lessons:
        for number, line in checked_lines(lesson.source):
            assert not re.search(pattern, line, flags=re.I), (
                f"{lesson.slug}:{number}: {why}: {line}"
            )


def test_the_lessons_name_all_seven_stop_reasons(course):
    text = course.get("messages-api").source
    for reason in [
        "end_turn",
        "max_tokens",
        "stop_sequence",
        "tool_use",
        "pause_turn",
        "refusal",
        "model_context_window_exceeded",
    ]:
        assert f"`{reason}`" in text


def test_the_lessons_use_the_newest_api_version_in_curl(course):
    for lesson in course.lessons:
        assert "anthropic-version: 2026-10-21" in lesson.source, lesson.slug


def test_the_tutor_default_model_is_current():
    data = model_data()
    assert data.get(data.tutor_default).status == "current"


def test_lesson_3_renders_the_model_data_file(course):
    html = course.get("models-tokens-and-sampling").html
    for model in model_data().models:
        assert f"<code>{model.id}</code>" in html


def test_every_code_example_names_a_model_only_in_one_model_constant(course):
    data = model_data()
    allowed = {data.course_default, data.course_comparison}
    ids = {model.id for model in data.models}
    for lesson in course.lessons:
        for example in (e for e in lesson.examples if e.kind == "python"):
            for line in example.code.splitlines():
                named = {model_id for model_id in ids if f'"{model_id}"' in line}
                if named:
                    assert re.match(r"^[A-Z_]*MODEL = ", line), (example.label, line)
                    assert named <= allowed, (example.label, line)
