from __future__ import annotations

from django.core.checks import Error

from course.lessons import load_catalogue


def check_lessons(app_configs=None, **kwargs) -> list[Error]:
    """Fail `manage.py check` (and so start-up) on a broken lesson, with its file and line."""
    catalogue = load_catalogue()
    errors = [Error(str(problem), id="course.E001") for problem in catalogue.problems]
    if not catalogue.lessons and not errors:
        errors.append(
            Error("no lessons found", hint="Add lessons/NN-slug.md files.", id="course.E002")
        )
    return errors
