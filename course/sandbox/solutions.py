"""Run an exercise's reference solution offline, the way check_lessons and its test do."""

from __future__ import annotations

import json

from course.models_data import ModelDataError, model_data
from course.sandbox import faults, grader, policy, simulator, validator
from course.sandbox.exercises import Exercise


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


def solution_problem(exercise: Exercise) -> str | None:
    """Why the reference solution fails its own checks, or None when it passes.

    It runs in a fresh private cache, twice if need be: a check that reads the prompt cache
    passes on the second run, exactly as it does for a learner who runs it again.
    """
    store = simulator.MemoryStore()
    try:
        for _ in range(2):
            verdict = grader.grade(
                exercise.checks, grading_data(exercise, exercise.solution, store)
            )
            if verdict.passed:
                return None
    except ModelDataError as error:
        return f"cannot run the solution: {error}"
    return f"the solution does not pass its own check {verdict.failed_check + 1}: {verdict.message}"


def review(exercise: Exercise) -> dict:
    """For the instructor preview: how the solution and the starter fare in the simulator."""
    problem = solution_problem(exercise)
    store = simulator.MemoryStore()
    try:
        starter = grader.grade(exercise.checks, grading_data(exercise, exercise.starter, store))
        starter_result = "passes already" if starter.passed else f"Not yet: {starter.message}"
    except (ValueError, ModelDataError) as error:  # a starter that is not JSON on purpose
        starter_result = f"cannot run: {error}"
    return {
        "exercise": exercise,
        "solution_passes": problem is None,
        "solution_result": problem or f"passes its {len(exercise.checks)} check(s)",
        "starter_result": starter_result,
    }
