from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.core.checks import Error
from django.core.exceptions import ImproperlyConfigured

from course.lessons import load_catalogue
from course.model_catalogue import ModelDataError, model_data
from course.placeholders import NO_MODEL_DATA


def check_lessons(app_configs=None, **kwargs) -> list[Error]:
    """Fail `manage.py check` (and so start-up) on a broken lesson, with its file and line."""
    catalogue = load_catalogue()
    problems = list(catalogue.problems)
    errors = []
    try:
        model_data()
    except (ModelDataError, OSError) as error:
        # Reported once here rather than again by every lesson that prints from the file.
        errors.append(Error(f"the model data file is broken: {error}", id="course.E003"))
        problems = [p for p in problems if not p.message.startswith(NO_MODEL_DATA)]
    errors += [Error(str(problem), id="course.E001") for problem in problems]
    if not catalogue.lessons and not errors:
        errors.append(
            Error("no lessons found", hint="Add lessons/NN-slug.md files.", id="course.E002")
        )
    return errors


def require_collected_static() -> None:
    """Refuse to serve with DEBUG off until static files are collected: every page needs them."""
    if "Manifest" not in settings.STORAGES["staticfiles"]["BACKEND"]:
        return
    manifest = Path(settings.STATIC_ROOT) / "staticfiles.json"
    if not manifest.exists():
        raise ImproperlyConfigured(
            f"DEBUG is off but the static files are not collected in {settings.STATIC_ROOT}. "
            "Start the site with `make serve`, or run `python manage.py collectstatic --noinput` "
            "before starting daphne."
        )
