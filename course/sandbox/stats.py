"""Figures on sandbox attempts for the admin: attempts, pass rate and tries to pass per exercise."""

from __future__ import annotations

import statistics
from collections import defaultdict
from datetime import datetime

from course.sandbox.models import Attempt


def exercise_summary(since: datetime, until: datetime, lessons) -> list[dict]:
    """One row per exercise (and per lesson playground) with attempts in [since, until).

    Pass rate is the share of learners who tried an exercise and passed it; tries to pass
    counts a learner's runs up to and including their first pass. Runs the site refused (bad
    JSON, its limits) are no tries: no answer came back to grade.
    """
    rows = (
        Attempt.objects.graded()
        .filter(created_at__gte=since, created_at__lt=until)
        .order_by("created_at", "pk")
        .values_list("lesson_slug", "exercise_id", "learner_id", "passed")
    )
    attempts: dict[tuple[str, str], int] = defaultdict(int)
    tries: dict[tuple[str, str], dict[int, int]] = defaultdict(dict)  # runs so far, per learner
    passed_after: dict[tuple[str, str], dict[int, int]] = defaultdict(dict)
    for slug, exercise_id, learner, passed in rows:
        key = (slug, exercise_id)
        attempts[key] += 1
        if learner in passed_after[key]:
            continue  # runs after the first pass do not change the figures
        tries[key][learner] = tries[key].get(learner, 0) + 1
        if passed:
            passed_after[key][learner] = tries[key][learner]
    order = {
        (lesson.slug, exercise.id): (lesson.order, number, lesson.title, exercise.title)
        for lesson in lessons
        for number, exercise in enumerate(lesson.exercises)
    }
    titles = {lesson.slug: (lesson.order, lesson.title) for lesson in lessons}
    result = []
    for key, count in attempts.items():
        slug, exercise_id = key
        lesson_order, lesson_title = titles.get(slug, (999, slug))
        place = order.get(key, (lesson_order, 999, lesson_title, exercise_id or "Playground"))
        learners, passers = len(tries[key]), list(passed_after[key].values())
        result.append(
            {
                "sort": place[:2],
                "lesson": slug,
                "lesson_title": place[2],
                "exercise": exercise_id,
                "title": place[3] if exercise_id else "Free-form playground",
                "attempts": count,
                "learners": learners,
                "passed": len(passers),
                "pass_rate": len(passers) / learners if exercise_id and learners else None,
                "median_tries": statistics.median(passers) if passers else None,
            }
        )
    return sorted(result, key=lambda row: row["sort"])
