"""Exercises in lesson Markdown: ```exercise fences with YAML inside, checked line by line."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from markdown_it.token import Token

from course import markdown
from course.lesson_format import Problem
from course.sandbox.grader import Check, CheckInvalid, compile_check

FENCE = "exercise"
ID_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
FAULTS = ("429", "529", "500", "stream_error")
REQUIRED = ("id", "title", "task", "starter", "solution", "checks", "hints", "explanation")
KEYS = {*REQUIRED, "fault", "wrong_answers"}  # wrong_answers: proved by branch `exercises`


@dataclass(frozen=True)
class Exercise:
    id: str
    title: str
    task_html: str
    starter: str  # JSON text of a request body, as the learner first sees it
    solution: str  # JSON text that passes every check in the simulator
    checks: tuple[Check, ...]
    hints: tuple[str, ...]  # HTML, in increasing order of help
    explanation_html: str
    fault: str | None
    line: int  # the line of the opening fence in the lesson file

    def hint(self, index: int) -> str:
        """The hint for the learner's `index`-th failure, the last one once they run out."""
        return self.hints[min(max(index, 0), len(self.hints) - 1)]


def is_exercise(token: Token) -> bool:
    return token.type == "fence" and token.info.strip() == FENCE


def fence_lines(tokens: list[Token], body_line: int) -> list[int]:
    """File line of each exercise fence, in order (before placeholders shift the body)."""
    return [body_line + token.map[0] for token in tokens if is_exercise(token) and token.map]


class _Reader:
    """Check one block's mapping, each problem on the line of the key it is about."""

    def __init__(self, node: yaml.Node | None, path: Path, line: int) -> None:
        self.node, self.path, self.fence_line = node, path, line
        self.problems: list[Problem] = []

    def line(self, *keys: str | int) -> int:
        node, mark = self.node, self.node.start_mark if self.node is not None else None
        for key in keys:
            found = None
            if isinstance(node, yaml.MappingNode):
                pair = next(((k, v) for k, v in node.value if k.value == key), None)
                if pair is not None:
                    found, mark = pair[1], pair[0].start_mark  # the key's line, not its value's
            elif isinstance(node, yaml.SequenceNode) and isinstance(key, int):
                found = node.value[key] if key < len(node.value) else None
                mark = found.start_mark if found is not None else mark
            if found is None:
                break
            node = found
        return self.fence_line + 1 + (mark.line if mark is not None else 0)

    def problem(self, message: str, *keys: str | int, offset: int = 0) -> None:
        self.problems.append(Problem(self.path, self.line(*keys) + offset, message))


def parse_block(text: str, path: Path, line: int) -> tuple[Exercise | None, list[Problem]]:
    """Parse one fence's YAML into an Exercise, or report every problem found."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        raw = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None) or getattr(error, "context_mark", None)
        reason = getattr(error, "problem", None) or str(error)
        where = line + 1 + (mark.line if mark else 0)
        return None, [Problem(path, where, f"exercise is not valid YAML: {reason}")]
    reader = _Reader(node, path, line)
    if not isinstance(raw, dict):
        return None, [Problem(path, line, "an exercise block must be a YAML mapping")]
    for key in raw:
        if key not in KEYS:
            reader.problem(
                f"unknown key {key!r} in exercise (expected: {', '.join(REQUIRED)})", key
            )
    for key in REQUIRED:
        if key not in raw:
            reader.problem(f"exercise is missing {key!r}")
    ident = raw.get("id")
    if "id" in raw and not (isinstance(ident, str) and ID_RE.match(ident)):
        reader.problem("exercise id must use lowercase letters, digits and single hyphens", "id")
    for key in ("title", "task", "explanation"):
        if key in raw and not (isinstance(raw[key], str) and raw[key].strip()):
            reader.problem(f"exercise {key} must be non-empty text", key)
    for key in ("starter", "solution"):
        if key in raw:
            _check_json(raw[key], key, reader)
    checks = _checks(raw.get("checks"), reader) if "checks" in raw else ()
    hints = raw.get("hints")
    if "hints" in raw and not (
        isinstance(hints, list)
        and 2 <= len(hints) <= 3
        and all(isinstance(h, str) and h.strip() for h in hints)
    ):
        reader.problem("hints must be a list of 2 or 3 non-empty texts, most helpful last", "hints")
    fault = raw.get("fault")
    if fault is not None and str(fault) not in FAULTS:
        reader.problem(f"fault must be one of {', '.join(FAULTS)} (or null)", "fault")
    if reader.problems:
        return None, reader.problems
    return (
        Exercise(
            id=ident,
            title=raw["title"].strip(),
            task_html=markdown.render(raw["task"]),
            starter=raw["starter"].strip() + "\n",
            solution=raw["solution"].strip() + "\n",
            checks=checks,
            hints=tuple(markdown.render(h) for h in hints),
            explanation_html=markdown.render(raw["explanation"]),
            fault=str(fault) if fault is not None else None,
            line=line,
        ),
        [],
    )


def _check_json(value: Any, key: str, reader: _Reader) -> None:
    if not isinstance(value, str):
        reader.problem(f"{key} must be the JSON text of a request body (use '{key}: |')", key)
        return
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError as error:
        # The block scalar starts on the line after the key.
        reader.problem(
            f"{key} is not valid JSON: {error.msg} (line {error.lineno} column {error.colno} "
            f"of the {key})",
            key,
            offset=error.lineno,
        )
        return
    if not isinstance(parsed, dict):
        reader.problem(f"{key} must be a JSON object (a request body)", key)


def _checks(raw: Any, reader: _Reader) -> tuple[Check, ...]:
    if not isinstance(raw, list) or not 1 <= len(raw) <= 5:
        reader.problem("checks must be a list of 1 to 5 checks", "checks")
        return ()
    compiled = []
    for index, item in enumerate(raw):
        try:
            compiled.append(compile_check(item))
        except CheckInvalid as invalid:
            reader.problem(str(invalid), "checks", index)
    return tuple(compiled)


def parse_exercises(
    tokens: list[Token], path: Path, lines: list[int]
) -> tuple[tuple[Exercise, ...], list[Problem]]:
    """Every exercise fence in `tokens`; `lines` gives each fence's line in the file."""
    exercises: list[Exercise] = []
    problems: list[Problem] = []
    seen: dict[str, int] = {}
    fences = [token for token in tokens if is_exercise(token)]
    for token, line in zip(fences, lines, strict=False):
        exercise, found = parse_block(token.content, path, line)
        problems += found
        if exercise is None:
            continue
        if exercise.id in seen:
            problems.append(
                Problem(
                    path,
                    line,
                    f"exercise id {exercise.id!r} is also used on line {seen[exercise.id]}",
                )
            )
            continue
        seen[exercise.id] = line
        exercises.append(exercise)
    return tuple(exercises), problems


def lesson_exercises(
    first_tokens: list[Token], tokens: list[Token], path: Path, body_line: int
) -> tuple[tuple[Exercise, ...], list[Problem]]:
    """A lesson's exercises and their problems, each reference solution run against its checks.

    `first_tokens` is the body as written (for line numbers), `tokens` the body with its
    placeholders filled in (what learners see).
    """
    from course.sandbox.solutions import solution_problem  # runs the simulator: import late

    exercises, problems = parse_exercises(tokens, path, fence_lines(first_tokens, body_line))
    for exercise in exercises:
        if (problem := solution_problem(exercise)) is not None:
            problems.append(Problem(path, exercise.line, f"exercise {exercise.id!r}: {problem}"))
    return exercises, problems
