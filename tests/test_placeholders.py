from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from course.lessons import load_catalogue
from course.model_catalogue import ModelDataError, model_data
from course.placeholders import money, tokens
from tests.lesson_files import lesson_text, write
from tests.test_lessons import bump_mtime

CODE = """\
Use {{ model.default.id }}.

```python
MODEL = "{{ model.default.id }}"
OTHER = "{{ model.comparison.id }}"
MINIMUM = {{ model.claude-haiku-5-5.min_cache_tokens }}
```

```exercise
id: placeholder-model
title: The default model
task: Run it.
starter: |
  {"model": "{{ model.default.id }}", "max_tokens": 9, "messages": []}
solution: |
  {"model": "{{ model.default.id }}", "max_tokens": 9, "messages": [{"role": "user", "content": "Hi"}]}
wrong_answers:
  - mistake: Uses the comparison model.
    body: |
      {"model": "{{ model.comparison.id }}", "max_tokens": 9, "messages": [{"role": "user", "content": "Hi"}]}
  - mistake: Names the model by its family only.
    body: |
      {"model": "haiku", "max_tokens": 9, "messages": [{"role": "user", "content": "Hi"}]}
  - mistake: Leaves the model out.
    body: |
      {"max_tokens": 9, "messages": [{"role": "user", "content": "Hi"}]}
checks:
  - expect: request.model
    equals: {{ model.default.id }}
    message: Use the course's default model.
  - expect: length(request.messages)
    at_least: 1
    field: messages
    message: Add a message.
hints: [Look at the model., Use the default model.]
explanation: It ran.
```
"""


def only_lesson(lessons_dir, body: str, **replace: str):
    write(lessons_dir / "01-a.md", lesson_text(**{"More text.": body, **replace}))
    catalogue = load_catalogue()
    assert not catalogue.problems, catalogue.problems
    (lesson,) = catalogue.lessons
    return lesson


def problems_for(lessons_dir, body: str) -> list[str]:
    write(lessons_dir / "01-a.md", lesson_text(**{"More text.": body}))
    return [f"{p.line}: {p.message}" for p in load_catalogue().problems]


def body_line() -> int:
    """The file line where the test lesson's 'More text.' line sits."""
    return lesson_text().splitlines().index("More text.") + 1


def test_it_fills_model_fields_in_prose_code_and_exercise_fences(lessons_dir):
    lesson = only_lesson(lessons_dir, CODE)
    assert "Use claude-haiku-5-5." in lesson.source
    assert 'MODEL = "claude-haiku-5-5"' in lesson.source
    assert 'OTHER = "claude-haiku-4-5"' in lesson.source
    assert "MINIMUM = 512" in lesson.source
    assert '"model": "claude-haiku-5-5"' in lesson.exercises[0].starter
    assert lesson.exercises[0].checks[0].value == "claude-haiku-5-5"
    assert "{{" not in lesson.source
    assert "claude-haiku-5-5" in lesson.html and "{{" not in lesson.html


def test_it_fills_placeholders_in_the_front_matter_too(lessons_dir):
    lesson = only_lesson(
        lessons_dir,
        "More text.",
        **{"Which is tiny?": "Which is cheaper than {{ model.comparison.name }}?"},
    )
    assert lesson.quiz[0].text == "Which is cheaper than Claude Haiku 4.5?"


def test_it_prints_prices_costs_and_multipliers_as_money(lessons_dir):
    lesson = only_lesson(
        lessons_dir,
        "Input {{ price default input }}, read {{ price claude-haiku-5-5 cache_read }}, "
        "write {{ price default cache_write_5m }}, Opus {{ price claude-opus-5-5 input }}. "
        "3,000 tokens cost {{ cost default input 3,000 }}; 30M cost {{ cost default input 30_000_000 }}. "
        "Reads are {{ multiplier default cache_read }} on Haiku and "
        "{{ multiplier claude-opus-5-5 cache_read }} on Opus 5.5.",
    )
    assert (
        "Input $0.10, read $0.01, write $0.125, Opus $4.00. 3,000 tokens cost $0.0003; "
        "30M cost $3.00. Reads are 0.1x on Haiku and 0.05x on Opus 5.5."
    ) in lesson.source


def test_it_formats_whole_numbers_for_prose_on_request(lessons_dir):
    lesson = only_lesson(
        lessons_dir,
        "{{ model.default.context_window }} / {{ model.default.context_window | tokens }} / "
        "{{ model.claude-opus-4-6.min_cache_tokens | number }} / {{ model.default.max_output | tokens }}",
    )
    assert "1000000 / 1M / 4,096 / 128K" in lesson.source


@pytest.mark.parametrize(
    ("placeholder", "message"),
    [
        ("{{ model.claude-nope-1.id }}", "no model 'claude-nope-1' in models.yaml"),
        ("{{ model.default.colour }}", "models have no field 'colour'"),
        ("{{ model.default }}", "write model.<default|comparison|model-id>.<field>"),
        (
            "{{ model.claude-sonnet-5-5.min_cache_tokens }}",
            "claude-sonnet-5-5 has no min_cache_tokens",
        ),
        ("{{ model.default.name | tokens }}", "format 'tokens' needs a whole number"),
        ("{{ model.default.input | money }}", "unknown format 'money'"),
        ("{{ price default lunch }}", "the price field must be one of input, output"),
        ("{{ cost default input lots }}", "write a token count such as 3,000, not 'lots'"),
        ("{{ lifecycle }}", "write lifecycle <model>"),
        ("{{ lifecycle claude-nope-1 }}", "no model 'claude-nope-1' in models.yaml"),
    ],
)
def test_it_reports_a_placeholder_it_cannot_fill_with_its_line(lessons_dir, placeholder, message):
    found = problems_for(lessons_dir, f"Text.\n\nMore {placeholder} here.")
    line = body_line() + 2
    assert len(found) == 1
    assert found[0].startswith(f"{line}: placeholder '{placeholder}': {message}")


def test_it_reports_every_bad_placeholder_on_a_line(lessons_dir):
    found = problems_for(lessons_dir, "{{ model.x.id }} and {{ nonsense }}")
    line = body_line()
    assert found == [
        f"{line}: placeholder '{{{{ model.x.id }}}}': no model 'x' in models.yaml",
        f"{line}: unknown placeholder '{{{{ nonsense }}}}': "
        "use model.<ref>.<field>, price, cost, multiplier, lifecycle or models_table",
    ]


def test_the_models_table_must_stand_on_its_own_line(lessons_dir):
    found = problems_for(lessons_dir, "See {{ models_table }}")
    assert found == [f"{body_line()}: {{{{ models_table }}}} must be on a line of its own"]


def test_lines_after_a_models_table_are_still_reported_where_they_are(lessons_dir):
    found = problems_for(lessons_dir, "{{ models_table }}\n\n#### Too deep")
    assert found == [f"{body_line() + 2}: heading 'Too deep' skips from h2 to h4"]


def test_an_edit_of_the_model_data_reaches_the_prose(lessons_dir):
    assert "costs $0.10" in only_lesson(lessons_dir, "It costs {{ price default input }}.").source
    models = lessons_dir / "models.yaml"
    write(
        models,
        models.read_text().replace(
            "course_default: claude-haiku-5-5", "course_default: claude-opus-5-5"
        ),
    )
    bump_mtime(models)
    assert "costs $4.00" in load_catalogue().lessons[0].source


def test_a_broken_model_data_file_is_reported_at_the_first_placeholder(lessons_dir):
    models = lessons_dir / "models.yaml"
    write(models, "models: [")
    found = problems_for(lessons_dir, "Uses {{ model.default.id }}.")
    assert len(found) == 1
    assert found[0].startswith(f"{body_line()}: cannot fill placeholders: ")
    assert "not valid YAML" in found[0]


def test_a_lesson_without_placeholders_does_not_need_the_model_data(lessons_dir):
    write(lessons_dir / "models.yaml", "models: [")
    assert only_lesson(lessons_dir, "Plain text.").title == "Tiny lesson"


@pytest.mark.parametrize(
    ("replace", "message"),
    [
        ("course_default: claude-sonnet-4-5", "course_default must name a current model"),
        ("course_default: claude-opus-5", "course_default must name a current model"),
        ("course_default: claude-nope", "course_default must name a current model"),
    ],
)
def test_the_course_default_must_be_a_current_model(lessons_dir, replace, message):
    models = lessons_dir / "models.yaml"
    write(models, models.read_text().replace("course_default: claude-haiku-5-5", replace))
    with pytest.raises(ModelDataError, match=message):
        model_data()


def test_the_comparison_model_must_not_be_retired(lessons_dir):
    models = lessons_dir / "models.yaml"
    text = models.read_text().replace(
        "course_comparison: claude-haiku-4-5", "course_comparison: claude-3-5-haiku-20241022"
    )
    write(models, text)
    with pytest.raises(ModelDataError, match="course_comparison must name a model"):
        model_data()


def test_money_keeps_cents_and_any_finer_digits():
    assert [money(Decimal(v)) for v in ("4", "0.1", "0.125", "12.5", "0.0003", "1250")] == [
        "$4.00",
        "$0.10",
        "$0.125",
        "$12.50",
        "$0.0003",
        "$1,250.00",
    ]
    assert [tokens(v) for v in (1_000_000, 128_000, 4096)] == ["1M", "128K", "4,096"]


def test_check_lessons_refuses_model_ids_and_prices_typed_out(lessons_dir):
    body = (
        "Try claude-haiku-5-5 first.\n\n"
        '```python\nMODEL = "claude-opus-5-5"\n```\n\n'
        "The snapshot claude-sonnet-4-5-20250929 costs $3.00 per million, or $0.30 cached."
    )
    line = body_line()
    assert problems_for(lessons_dir, body) == [
        f"{line}: literal model ID 'claude-haiku-5-5': write {{{{ model.default.id }}}} "
        "so it follows lessons/models.yaml",
        f"{line + 3}: literal model ID 'claude-opus-5-5': write "
        "{{ model.claude-opus-5-5.id }} so it follows lessons/models.yaml",
        f"{line + 6}: literal model ID 'claude-sonnet-4-5-20250929': write "
        "{{ model.claude-sonnet-4-5.snapshot }} so it follows lessons/models.yaml",
        f"{line + 6}: literal price '$3.00': print it with {{{{ price <model> <field> }}}} "
        "or {{ cost <model> <field> <tokens> }}",
        f"{line + 6}: literal price '$0.30': print it with {{{{ price <model> <field> }}}} "
        "or {{ cost <model> <field> <tokens> }}",
    ]


def test_check_lessons_refuses_a_model_id_in_a_quiz_question(lessons_dir):
    write(lessons_dir / "01-a.md", lesson_text(**{"Which is tiny?": "Is claude-haiku-4-5 tiny?"}))
    (problem,) = load_catalogue().problems
    assert problem.message.startswith("literal model ID 'claude-haiku-4-5'")


def test_placeholders_may_name_a_model_and_ids_not_in_the_file_are_left_alone(lessons_dir):
    lesson = only_lesson(
        lessons_dir,
        "{{ price claude-opus-5-5 input }} on {{ model.claude-opus-5-5.name }}; "
        "claude-haiku-3-5 never existed; `$ANTHROPIC_API_KEY` is not a price.",
    )
    assert "$4.00 on Claude Opus 5.5; claude-haiku-3-5 never existed" in lesson.source


def test_lifecycle_and_status_read_the_calendar(lessons_dir, settings):
    body = "{{ model.claude-sonnet-4-5.status }}: it {{ lifecycle claude-sonnet-4-5 }}. {{ lifecycle default }}."
    settings.COURSE_TODAY = dt.date(2026, 11, 29)
    assert "deprecated: it retires on 2026-11-30. current." in only_lesson(lessons_dir, body).source
    settings.COURSE_TODAY = dt.date(2026, 11, 30)
    assert "retired: it retired on 2026-11-30. current." in only_lesson(lessons_dir, body).source
