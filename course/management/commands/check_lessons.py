from __future__ import annotations

import logging

from django.core.management.base import BaseCommand, CommandError

from course.lessons import load_catalogue
from course.models_data import ModelDataError, model_data
from course.placeholders import NO_MODEL_DATA


class Command(BaseCommand):
    help = (
        "Check every lesson: front matter, slugs, quiz answers, headings, links, exercises "
        "(each solution run against its checks), tutor prompt."
    )
    # This command reports the same problems as the system check, once, with more detail.
    requires_system_checks: list[str] = []

    def handle(self, *args, **options) -> None:
        # The catalogue logs each problem for the running site; here we print them instead.
        catalogue_log = logging.getLogger("course.lessons")
        catalogue_log.disabled = True
        try:
            self.check()
        finally:
            catalogue_log.disabled = False

    def check(self) -> None:
        try:
            data, data_error = model_data(), None
        except (ModelDataError, OSError) as error:
            data, data_error = None, str(error)
        catalogue = load_catalogue()
        problems = list(catalogue.problems)
        if data_error:
            # One broken data file would otherwise be reported again by every lesson using it.
            self.stderr.write(self.style.ERROR(f"the model data file is broken: {data_error}"))
            problems = [p for p in problems if not p.message.startswith(NO_MODEL_DATA)]
        for problem in problems:
            self.stderr.write(self.style.ERROR(str(problem)))
        broken = {problem.path for problem in catalogue.problems}
        for lesson in catalogue.lessons:
            if lesson.path in broken:
                continue
            words = len(lesson.source.split())
            self.stdout.write(
                f"{self.style.SUCCESS('ok')}  {lesson.path.name}: lesson {lesson.order}, "
                f"/lessons/{lesson.slug}/, {words:,} words, {len(lesson.quiz)} quiz questions, "
                f"{sum(1 for e in lesson.examples if e.kind)} runnable examples, "
                f"facts checked {lesson.facts_checked:%Y-%m-%d}"
            )
            if lesson.exercises:
                wrong = sum(len(exercise.wrong_answers) for exercise in lesson.exercises)
                self.stdout.write(
                    f"    exercises: {len(lesson.exercises)}, each reference solution passes "
                    f"its own checks in the simulator; every starter and all {wrong} listed "
                    "wrong answers fail them"
                )
            if data is not None:
                for line in self.tutor_report(lesson):
                    self.stdout.write(f"    {line}")
        if data is not None:
            self.stdout.write(
                f"Model data verified {data.verified:%Y-%m-%d}; course model "
                f"{data.course_default}; tutor default {data.tutor_default}."
            )
        count = len(problems) + bool(data_error)
        if count:
            raise CommandError(f"{count} problem(s) in the lessons; see above.")
        self.stdout.write(self.style.SUCCESS(f"All {len(catalogue.lessons)} lessons are fine."))

    def tutor_report(self, lesson) -> list[str]:
        """What the lesson does to the tutor's cached prompt (filled in by the tutor app)."""
        try:
            from tutor.instructor import lesson_report
        except ImportError:
            return []
        return lesson_report(lesson)
