from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from course.lessons import load_catalogue
from course.models_data import ModelDataError, model_data


class Command(BaseCommand):
    help = (
        "Check every lesson: front matter, slugs, quiz answers, headings, links, exercises "
        "(each solution run against its checks), tutor prompt."
    )

    def handle(self, *args, **options) -> None:
        catalogue = load_catalogue()
        try:
            data = model_data()
        except (ModelDataError, OSError) as error:
            raise CommandError(f"the model data file is broken: {error}") from None
        for problem in catalogue.problems:
            self.stderr.write(self.style.ERROR(str(problem)))
        broken = {problem.path for problem in catalogue.problems}
        for lesson in catalogue.lessons:
            if lesson.path in broken:
                continue
            words = len(lesson.source.split())
            self.stdout.write(
                f"{self.style.SUCCESS('ok')}  {lesson.path.name}: lesson {lesson.order}, "
                f"/lessons/{lesson.slug}/, {words:,} words, {len(lesson.quiz)} quiz questions"
            )
            if lesson.exercises:
                self.stdout.write(
                    f"    exercises: {len(lesson.exercises)}, each reference solution passes "
                    "its own checks in the simulator"
                )
            for line in self.tutor_report(lesson):
                self.stdout.write(f"    {line}")
        self.stdout.write(
            f"Model data verified {data.verified:%Y-%m-%d}; tutor default {data.tutor_default}."
        )
        if catalogue.problems:
            raise CommandError(f"{len(catalogue.problems)} problem(s) in the lessons; see above.")
        self.stdout.write(self.style.SUCCESS(f"All {len(catalogue.lessons)} lessons are fine."))

    def tutor_report(self, lesson) -> list[str]:
        """What the lesson does to the tutor's cached prompt (filled in by the tutor app)."""
        try:
            from tutor.prompts import prompt_report
        except ImportError:
            return []
        return prompt_report(lesson)
