from __future__ import annotations

import os
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from course import example_runner
from course.lessons import load_catalogue


class Command(BaseCommand):
    help = (
        "Run every lesson's Python and curl examples against the real Claude API "
        "(needs ANTHROPIC_API_KEY; it makes real, billed requests)."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("lessons", nargs="*", help="lesson slugs (default: every lesson)")
        parser.add_argument("--timeout", type=int, default=120, help="seconds per example")

    def handle(self, *args, **options) -> None:
        api_key = os.environ.get("ANTHROPIC_API_KEY", "").strip()
        if not api_key:
            raise CommandError(
                "verify_lessons runs the examples against the real API and needs a key: "
                "set ANTHROPIC_API_KEY (CI runs them against the local fake instead, "
                "in tests/test_lesson_examples.py)."
            )
        catalogue = load_catalogue()
        if catalogue.problems:
            raise CommandError("the lessons have problems; run `make check-lessons` first")
        lessons = [
            lesson
            for lesson in catalogue.lessons
            if not options["lessons"] or lesson.slug in options["lessons"]
        ]
        failed = 0
        for lesson in lessons:
            for example in (e for e in lesson.examples if e.kind):
                outcome = example_runner.run(
                    example,
                    lesson.examples,
                    api_key=api_key,
                    base_url=os.environ.get("ANTHROPIC_BASE_URL") or None,
                    files=Path(settings.LESSONS_DIR) / "files",
                    timeout=options["timeout"],
                )
                status = self.style.SUCCESS("ok  ") if outcome.ok else self.style.ERROR("FAIL")
                note = f" ({outcome.detail})" if outcome.ok and outcome.detail else ""
                self.stdout.write(
                    f"{status} {example.label} {example.kind} {outcome.seconds:.1f}s{note}"
                )
                if not outcome.ok:
                    failed += 1
                    self.stderr.write(outcome.detail.rstrip())
                    if outcome.output.strip():
                        self.stderr.write("--- output ---\n" + outcome.output.rstrip())
        if failed:
            raise CommandError(f"{failed} example(s) failed against the live API; see above.")
        self.stdout.write(self.style.SUCCESS("Every example ran against the live API."))
