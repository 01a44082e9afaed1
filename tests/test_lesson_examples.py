"""Every Python and curl example in the lessons runs, with the real SDK, against the local fake."""

from __future__ import annotations

from pathlib import Path

import pytest

from course import example_runner
from course.examples import Example
from course.lessons import Lesson, load_catalogue
from course.model_catalogue import model_data
from tests.fake_anthropic import FakeAnthropic, HttpError, Reply, StreamError

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = {
    "refusal": lambda fake: setattr(fake, "default", Reply(stop_reason="refusal")),
    "stream-error": lambda fake: setattr(fake, "default", StreamError(after=3)),
    "overloaded": lambda fake: fake.enqueue(
        HttpError(529, "overloaded_error", "Overloaded", retry_after=0.01)
    ),
    "pause-turn": lambda fake: setattr(fake, "default", Reply(stop_reason="pause_turn")),
    "max-tokens": lambda fake: setattr(fake, "default", Reply(stop_reason="max_tokens")),
}


def lesson_examples() -> list[tuple[Lesson, Example]]:
    return [
        pytest.param(lesson, example, id=example.label)
        for lesson in load_catalogue().lessons
        for example in lesson.examples
        if example.kind
    ]


def catalogue_of_models() -> list[dict]:
    """GET /v1/models as the real API would list the models in lessons/models.yaml."""
    lifecycle = {"retired": "retired", "deprecated": "deprecated"}
    return [
        {
            "type": "model",
            "id": model.id,
            "display_name": model.name,
            "created_at": "2026-01-01T00:00:00Z",
            "lifecycle": lifecycle.get(model.status, "active"),
            "retires_at": f"{model.retires:%Y-%m-%d}T00:00:00Z" if model.retires else None,
            "max_input_tokens": model.context_window,
            "max_tokens": model.max_output,
        }
        for model in model_data().models
    ]


@pytest.mark.parametrize(("lesson", "example"), lesson_examples())
def test_the_lesson_example_runs_against_the_fake_api(lesson, example):
    with FakeAnthropic(models=catalogue_of_models()) as fake:
        if example.fake:
            SCENARIOS[example.fake](fake)
        outcome = example_runner.run(
            example,
            lesson.examples,
            api_key="sk-ant-example-runner",
            base_url=fake.url,
            files=ROOT / "lessons" / "files",
        )
        assert outcome.ok, f"{example.label}: {outcome.detail}\n--- output ---\n{outcome.output}"
        assert fake.requests or example.fails, "the example never called the API"


def test_every_fake_scenario_a_lesson_may_name_is_scripted():
    from course.examples import SCENARIOS as DOCUMENTED

    assert set(DOCUMENTED) == set(SCENARIOS)


def test_the_handbook_the_caching_examples_read_clears_every_models_minimum():
    # Real tokenizers give about 3.5 to 4 English characters per token; 4.5 leaves a margin.
    handbook = (ROOT / "lessons" / "files" / "ledgerly_handbook.md").read_text(encoding="utf-8")
    minimums = [m.min_cache_tokens for m in model_data().models if m.min_cache_tokens]
    assert len(handbook) / 4.5 > max(minimums)


@pytest.mark.django_db
def test_a_learner_can_download_the_files_the_examples_read(client):
    response = client.get("/lessons/files/ledgerly_handbook.md")
    assert response.status_code == 200
    assert response["Content-Disposition"] == 'attachment; filename="ledgerly_handbook.md"'
    assert b"# Ledgerly product handbook" in b"".join(response.streaming_content)
    assert client.get("/lessons/files/.hidden").status_code == 404
    assert client.get("/lessons/files/missing.md").status_code == 404
    assert client.get("/lessons/files/..%2Fmodels.yaml").status_code == 404


def test_check_lessons_refuses_a_link_to_a_missing_lesson_file(lessons_dir):
    from course.lessons import load_catalogue as load
    from tests.lesson_files import lesson_text, write

    text = lesson_text(**{"More text.": "Get [it](/lessons/files/nothing.md)."})
    write(lessons_dir / "01-a.md", text)
    (problem,) = load().problems
    assert problem.message == (
        "link '/lessons/files/nothing.md': there is no file 'nothing.md' in lessons/files/"
    )
