"""A model whose `retires` date has passed is retired everywhere, with no edit to any file."""

from __future__ import annotations

import datetime as dt
import logging
import re
import shutil
from pathlib import Path

import pytest
import yaml
from django.contrib.auth import get_user_model
from django.test import Client

from course.lessons import catalogue
from course.model_catalogue import model_data, models_table_markdown, today
from course.sandbox import policy, runner, validator
from tutor import config

ROOT = Path(__file__).resolve().parent.parent
LESSON = "/lessons/models-tokens-and-sampling/"
RUN = "/lessons/models-tokens-and-sampling/sandbox/run/"
# Both carry the date under test: Sonnet 4.5 (which lesson 3 uses as its example) and Sonnet 5.5,
# made the tutor's model and left on the sandbox's allow-list.
EXAMPLE, OFFERED = "claude-sonnet-4-5", "claude-sonnet-5-5"

pytestmark = pytest.mark.django_db


def data_file_retiring_on(directory: Path, retires: dt.date) -> Path:
    """A copy of lessons/models.yaml in which both models retire on `retires`."""
    raw = yaml.safe_load((ROOT / "lessons" / "models.yaml").read_text(encoding="utf-8"))
    for model in raw["models"]:
        if model["id"] in (EXAMPLE, OFFERED):
            model.update(status="deprecated", retires=retires)
    raw["tutor_default"] = OFFERED
    assert OFFERED in raw["sandbox_models"]
    path = directory / "models.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    return path


@pytest.fixture
def retiring(tmp_path, settings, monkeypatch):
    """Point the site at a copy of the data file; call it with the retirement date."""
    monkeypatch.setattr(config, "_warned", set())
    settings.TUTOR_MODEL = ""

    def use(retires: dt.date) -> None:
        settings.MODELS_FILE = data_file_retiring_on(tmp_path, retires)

    return use


def status_cell(model_id: str) -> str:
    row = next(
        line for line in models_table_markdown(model_data()).splitlines() if f"`{model_id}`" in line
    )
    return row.split("|")[3].strip()


def lesson_text() -> str:
    return catalogue().get("models-tokens-and-sampling").source


def run_on(model_id: str) -> str:
    client = Client()
    client.force_login(get_user_model().objects.create_user("ada", password="a long pass phrase"))
    body = f'{{"model": "{model_id}", "max_tokens": 64, "messages": [{{"role": "user", "content": "Hi"}}]}}'
    response = client.post(RUN, {"exercise": "", "body": body, "action": "run"})
    assert response.status_code == 200
    return response.content.decode()


def test_a_date_in_the_past_retires_the_model_everywhere(retiring, caplog):
    retires = today() - dt.timedelta(days=3)
    retiring(retires)
    on = f"{retires:%Y-%m-%d}"

    assert model_data().get(OFFERED).status == "retired"
    assert not model_data().get(OFFERED).usable
    assert status_cell(OFFERED) == f"retired ({on})"
    assert f"retired on {on}." in lesson_text()
    assert f"| retired ({on}) |" in lesson_text()  # the table the lesson (and the tutor) shows

    with caplog.at_level(logging.WARNING, logger="tutor.config"):
        assert config.model_id() == "claude-haiku-5-5"
    assert f"the tutor's model {OFFERED} retired on {on}; using claude-haiku-5-5" in caplog.text

    assert OFFERED not in policy.allowed_models(model_data())
    assert OFFERED not in [m["id"] for m in runner.allowed_models()]
    assert f'<option value="{OFFERED}"' not in Client().get(LESSON).content.decode()

    body = {"model": OFFERED, "max_tokens": 64, "messages": [{"role": "user", "content": "Hi"}]}
    error = validator.validate(body, model_data())
    assert (error.status, error.type) == (404, "not_found_error")
    assert error.message == f"model: {OFFERED} (retired on {on})"
    html = run_on(OFFERED)
    assert "not_found_error" in html and f"retired on {on}" in html


def test_a_date_in_the_future_leaves_the_model_deprecated_and_usable(retiring, caplog):
    retires = today() + dt.timedelta(days=30)
    retiring(retires)
    on = f"{retires:%Y-%m-%d}"

    assert model_data().get(OFFERED).status == "deprecated"
    assert status_cell(OFFERED) == f"deprecated (retires {on})"
    assert f"it retires on {on}." in lesson_text()

    with caplog.at_level(logging.WARNING, logger="tutor.config"):
        assert config.model_id() == OFFERED
    assert not caplog.records

    assert OFFERED in policy.allowed_models(model_data())
    assert f'<option value="{OFFERED}"' in Client().get(LESSON).content.decode()
    body = {"model": OFFERED, "max_tokens": 64, "messages": [{"role": "user", "content": "Hi"}]}
    assert validator.validate(body, model_data()) is None
    assert "not_found_error" not in run_on(OFFERED)


def test_the_day_itself_retires_the_model_without_an_edit_or_a_restart(retiring, settings):
    retires = dt.date(2027, 3, 1)
    retiring(retires)
    settings.COURSE_TODAY = retires - dt.timedelta(days=1)
    assert "it retires on 2027-03-01." in lesson_text()
    assert status_cell(EXAMPLE) == "deprecated (retires 2027-03-01)"
    assert config.model_id() == OFFERED

    settings.COURSE_TODAY = retires  # the same parsed files, a day later
    assert "it retired on 2027-03-01." in lesson_text()
    assert status_cell(EXAMPLE) == "retired (2027-03-01)"
    assert config.model_id() == "claude-haiku-5-5"
    assert [m["id"] for m in runner.allowed_models()] == ["claude-haiku-5-5"]


def test_an_explicit_tutor_model_that_retired_falls_back_with_a_warning(retiring, settings, caplog):
    retiring(today() - dt.timedelta(days=1))
    settings.TUTOR_MODEL = EXAMPLE
    with caplog.at_level(logging.WARNING, logger="tutor.config"):
        assert config.model_id() == "claude-haiku-5-5"
        config.model_id()
    assert len(caplog.records) == 1  # once, not on every reply
    assert re.search(rf"{EXAMPLE} retired on [\d-]+; using claude-haiku-5-5", caplog.text)


def test_the_sandbox_keeps_one_usable_model_when_every_listed_one_retired(retiring, settings):
    retiring(today() - dt.timedelta(days=1))
    settings.MODELS_FILE.write_text(
        settings.MODELS_FILE.read_text(encoding="utf-8").replace(
            "- claude-haiku-5-5\n- claude-sonnet-5-5", "- claude-sonnet-5-5"
        ),
        encoding="utf-8",
    )
    assert model_data().sandbox_models == (OFFERED,)
    assert policy.allowed_models(model_data()) == ["claude-haiku-5-5"]


def test_a_retirement_date_must_be_a_date(tmp_path, settings):
    path = tmp_path / "models.yaml"
    shutil.copy(ROOT / "lessons" / "models.yaml", path)
    path.write_text(
        path.read_text(encoding="utf-8").replace("retires: 2026-11-30", "retires: soon"),
        encoding="utf-8",
    )
    settings.MODELS_FILE = path
    with pytest.raises(ValueError, match=r"'retires' must be a date \(YYYY-MM-DD\)"):
        model_data()
