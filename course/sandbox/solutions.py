"""An exercise's health, run offline: what check_lessons, the banner and the preview all report."""

from __future__ import annotations

import json
from dataclasses import dataclass

from course.lesson_format import Problem
from course.model_catalogue import ModelDataError, model_data
from course.sandbox import faults, grader, policy, simulator, validator
from course.sandbox.exercises import Exercise, WrongAnswer

RUNS = 2  # a check that reads the prompt cache passes on the second run, as for a learner


def grading_data(exercise: Exercise, body_text: str, store: simulator.CacheStore) -> dict:
    """{request, response, error, events} for one simulated run of `body_text`."""
    models = model_data()
    body = json.loads(body_text)
    error = validator.validate(body, models) or policy.check(body, models)
    if error is None and exercise.fault:
        error = faults.http_error(exercise.fault, body.get("stream") is True)
    if error is not None:
        return {"request": body, "response": None, "error": error.as_error(), "events": []}
    outcome = simulator.simulate(body, models, store, simulator.new_id("req_"))
    if exercise.fault == "stream_error":
        events, stream_error = faults.interrupt(outcome)
        return {"request": body, "response": None, "error": stream_error, "events": events}
    return {"request": body, "response": outcome.response, "error": None, "events": outcome.events}


def grade_runs(exercise: Exercise, body_text: str) -> grader.Verdict:
    """Run `body_text` up to twice on a fresh cache: the first passing verdict, else the last."""
    store = simulator.MemoryStore()
    for _ in range(RUNS):
        verdict = grader.grade(exercise.checks, grading_data(exercise, body_text, store))
        if verdict.passed:
            break
    return verdict


@dataclass(frozen=True)
class Health:
    """How an exercise fares: the solution must pass, the starter and every wrong answer fail."""

    checks: int
    solution: grader.Verdict | None  # None when the solution cannot run at all
    starter: grader.Verdict | None
    passing_wrong_answers: tuple[tuple[int, WrongAnswer], ...]  # (number from 1, answer)
    wrong_answers: int
    cannot_run: str | None = None  # why the bodies could not be run (broken model data)

    @property
    def ok(self) -> bool:
        return not self.failures()

    def failures(self) -> list[tuple[int | None, str]]:
        """(line or None for the fence, message) for each way the exercise is broken."""
        if self.cannot_run:
            return [(None, f"cannot run the solution: {self.cannot_run}")]
        found: list[tuple[int | None, str]] = []
        if self.solution is not None and not self.solution.passed:
            found.append(
                (
                    None,
                    "the solution does not pass its own check "
                    f"{_check_number(self.solution)}: {self.solution.message}",
                )
            )
        if self.starter is not None and self.starter.passed:
            found.append((None, "the starter already passes every check; it should not"))
        for number, answer in self.passing_wrong_answers:
            found.append(
                (
                    answer.line,
                    f"wrong answer {number} passes every check, so the checks miss this "
                    f"mistake: {answer.mistake}",
                )
            )
        return found

    def summary(self) -> str:
        """One line for the instructor preview."""
        if not self.ok:
            return "; ".join(message for _, message in self.failures())
        return (
            f"passes its {self.checks} check(s); the starter and its "
            f"{self.wrong_answers} wrong answers fail"
        )

    def starter_result(self) -> str:
        if self.starter is None:
            return f"cannot run: {self.cannot_run}"
        return "passes already" if self.starter.passed else f"Not yet: {self.starter.message}"


def health(exercise: Exercise) -> Health:
    """Run the solution, the starter and each wrong answer through the simulator and grader."""
    try:
        solution = grade_runs(exercise, exercise.solution)
        starter = grade_runs(exercise, exercise.starter)
        passing = tuple(
            (number, answer)
            for number, answer in enumerate(exercise.wrong_answers, start=1)
            if grade_runs(exercise, answer.body).passed
        )
    except ModelDataError as error:
        count = len(exercise.checks)
        return Health(count, None, None, (), len(exercise.wrong_answers), str(error))
    return Health(len(exercise.checks), solution, starter, passing, len(exercise.wrong_answers))


def health_problems(exercise: Exercise, path) -> list[Problem]:
    """The exercise's failures as lesson problems, each on its line and naming the exercise."""
    assert exercise.health is not None
    return [
        Problem(path, line or exercise.line, f"exercise {exercise.id!r}: {message}", exercise.id)
        for line, message in exercise.health.failures()
    ]


def review(exercise: Exercise, problems: list[Problem]) -> dict:
    """For the instructor preview: the same verdict the banner and check_lessons give.

    `problems` are the lesson file's current problems. When the file on disk is broken the site
    serves its last good version, so this exercise's problems come from the file, not from it.
    """
    own = [
        problem.message.split(": ", 1)[-1]
        for problem in problems
        if problem.exercise == exercise.id
    ]
    result = exercise.health
    if own:
        return {
            "exercise": exercise,
            "solution_passes": False,
            "solution_result": "in the file on disk: " + "; ".join(own),
            "starter_result": result.starter_result() if result else "",
        }
    return {
        "exercise": exercise,
        "solution_passes": result is not None and result.ok,
        "solution_result": result.summary() if result else "not checked",
        "starter_result": result.starter_result() if result else "",
    }


def _check_number(verdict: grader.Verdict) -> str:
    return (
        "(the request was refused)"
        if verdict.failed_check is None
        else str(verdict.failed_check + 1)
    )
