from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from course import placeholders
from course.copying import RUN, copied_runs
from course.lessons import load_catalogue
from course.model_catalogue import ModelData, ModelDataError, model_data, today
from course.placeholders import NO_MODEL_DATA


class Command(BaseCommand):
    help = (
        "Check every lesson: front matter, slugs, quiz answers, headings, links, exercises "
        "(each solution run against its checks), tutor prompt."
    )
    # This command reports the same problems as the system check, once, with more detail.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--copied-from",
            type=Path,
            metavar="FILE",
            help=f"warn about each run of {RUN} or more words a lesson repeats from FILE "
            "(such as the fact sheet), outside code blocks and quotations",
        )

    def handle(self, *args, **options) -> None:
        # The catalogue logs each problem for the running site; here we print them instead.
        catalogue_log = logging.getLogger("course.lessons")
        catalogue_log.disabled = True
        try:
            self.check()
        finally:
            catalogue_log.disabled = False
        if options.get("copied_from"):
            self.report_copies(options["copied_from"])

    def report_copies(self, reference_path: Path) -> None:
        try:
            reference = reference_path.read_text(encoding="utf-8")
        except OSError as error:
            raise CommandError(f"cannot read {reference_path}: {error}") from None
        for lesson in load_catalogue().lessons:
            text, _ = placeholders.expand(
                lesson.path.read_text(encoding="utf-8"), lesson.path, 1, model_data
            )
            for line, words in copied_runs(text, reference):
                self.stderr.write(
                    self.style.WARNING(
                        f"warning: {lesson.path.name}:{line}: {len(words.split())} words repeat "
                        f'{reference_path.name}: "{words}"; say it in the course\'s own words'
                    )
                )

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
        for warning in stale_facts(data, catalogue.lessons):
            self.stderr.write(self.style.WARNING(f"warning: {warning}"))
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


STALE_AFTER = dt.timedelta(days=30)


def stale_facts(data: ModelData | None, lessons) -> list[str]:
    """What an instructor should re-verify: old check dates, and lifecycle dates passed since."""
    now = today()
    warnings = []
    if data is not None:
        if now - data.verified > STALE_AFTER:
            warnings.append(
                f"lessons/models.yaml was last verified on {data.verified:%Y-%m-%d}, "
                f"{(now - data.verified).days} days ago: re-check it against {data.source} and "
                "bump 'verified'"
            )
        for model in data.passed_since(data.verified):
            warnings.append(
                f"{model.id} {model.lifecycle()}, after models.yaml was last verified "
                f"({data.verified:%Y-%m-%d}): re-verify it against the sources"
            )
        for role, model in data.retired_in_use():
            warnings.append(f"{role} names {model.id}, which {model.lifecycle()}")
    for lesson in lessons:
        if lesson.facts_checked and now - lesson.facts_checked > STALE_AFTER:
            warnings.append(
                f"{lesson.path.name}: facts_checked is {lesson.facts_checked:%Y-%m-%d}, "
                f"{(now - lesson.facts_checked).days} days ago: re-check it against its sources"
            )
    return warnings
