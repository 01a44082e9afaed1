"""Exercises in lesson Markdown: ```exercise fences with YAML inside, checked line by line."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from markdown_it.token import Token

if TYPE_CHECKING:
    from course.sandbox.solutions import Health

from course import markdown
from course.lesson_format import Problem
from course.sandbox.grader import Check, CheckInvalid, compile_check

FENCE = "exercise"
ID_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
FAULTS = ("429", "529", "500", "stream_error")
REQUIRED = (
    "id",
    "title",
    "task",
    "starter",
    "solution",
    "wrong_answers",
    "checks",
    "hints",
    "explanation",
)
KEYS = {*REQUIRED, "fault"}
MIN_WRONG_ANSWERS = 3
# A request field as the editor names it: `system`, `messages[-1].content`, `output_config.format`.
FIELD_RE = re.compile(r"^[a-z_]+(?:\[-?\d+\])*(?:\.[a-z_]+(?:\[-?\d+\])*)*$")
PLAIN_REQUEST_RE = re.compile(r"^request\.([a-z_]+(?:\[-?\d+\])*(?:\.[a-z_]+(?:\[-?\d+\])*)*)$")
ID_LINE_RE = re.compile(r"^id:\s*['\"]?([^'\"\s#]+)", re.M)


@dataclass(frozen=True)
class ExerciseCheck(Check):
    """A grader check plus what the learner is shown about it when it is the first to fail."""

    part: str | None = None  # the part of the task it is about, e.g. "the system prompt"
    field: str | None = None  # the request field to highlight, e.g. "messages[-1].content"


@dataclass(frozen=True)
class WrongAnswer:
    """A plausible wrong body a learner would try, which the checks must refuse."""

    mistake: str  # what the learner got wrong, in a sentence
    body: str  # JSON text of the request body
    line: int  # the line of this entry in the lesson file


@dataclass(frozen=True)
class Exercise:
    id: str
    title: str
    task_html: str
    starter: str  # JSON text of a request body, as the learner first sees it
    solution: str  # JSON text that passes every check in the simulator
    wrong_answers: tuple[WrongAnswer, ...]
    checks: tuple[ExerciseCheck, ...]
    hints: tuple[str, ...]  # HTML, in increasing order of help
    explanation_html: str
    fault: str | None
    line: int  # the line of the opening fence in the lesson file
    # How its solution, starter and wrong answers fare in the simulator, set when the lesson is
    # parsed: check_lessons, the staff banner and the instructor preview all read this.
    health: Health | None = None

    def hint(self, index: int) -> str:
        """The hint for the learner's `index`-th failure, the last one once they run out."""
        return self.hints[min(max(index, 0), len(self.hints) - 1)]


def is_exercise(token: Token) -> bool:
    return token.type == "fence" and token.info.strip() == FENCE


def fence_lines(tokens: list[Token], body_line: int) -> list[int]:
    """File line of each exercise fence, in order."""
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
        return None, [_yaml_problem(error, text, path, line)]
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
    wrong = _wrong_answers(raw.get("wrong_answers"), raw.get("solution"), reader)
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
            wrong_answers=wrong,
            checks=checks,
            hints=tuple(markdown.render(h) for h in hints),
            explanation_html=markdown.render(raw["explanation"]),
            fault=str(fault) if fault is not None else None,
            line=line,
        ),
        [],
    )


def _yaml_problem(error: yaml.YAMLError, text: str, path: Path, line: int) -> Problem:
    """Point at the cause: an unclosed quote is found only at the end of the block."""
    ident = ID_LINE_RE.search(text)
    which = f"exercise {ident.group(1)!r}" if ident else "exercise"
    context, context_mark = getattr(error, "context", None), getattr(error, "context_mark", None)
    if context_mark is not None and "quoted scalar" in (context or ""):
        lines = text.splitlines()
        opened = lines[context_mark.line] if context_mark.line < len(lines) else ""
        quote = opened[context_mark.column : context_mark.column + 1] or "opening"
        return Problem(
            path,
            line + 1 + context_mark.line,
            f"{which} is not valid YAML: the {quote} quote opened on this line "
            f"(column {context_mark.column + 1}) is never closed",
        )
    mark = getattr(error, "problem_mark", None) or context_mark
    reason = getattr(error, "problem", None) or str(error)
    where = line + 1 + (mark.line if mark else 0)
    return Problem(path, where, f"{which} is not valid YAML: {reason}")


def _check_json(value: Any, key: str, reader: _Reader, *where: str | int) -> None:
    where = where or (key,)
    if not isinstance(value, str):
        reader.problem(f"{key} must be the JSON text of a request body (use '{key}: |')", *where)
        return
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError as error:
        # The block scalar starts on the line after the key.
        reader.problem(
            f"{key} is not valid JSON: {error.msg} (line {error.lineno} column {error.colno} "
            f"of the {key})",
            *where,
            offset=error.lineno,
        )
        return
    if not isinstance(parsed, dict):
        reader.problem(f"{key} must be a JSON object (a request body)", *where)


def _checks(raw: Any, reader: _Reader) -> tuple[ExerciseCheck, ...]:
    if not isinstance(raw, list) or not 1 <= len(raw) <= 5:
        reader.problem("checks must be a list of 1 to 5 checks", "checks")
        return ()
    compiled = []
    for index, item in enumerate(raw):
        try:
            compiled.append(_check(item))
        except CheckInvalid as invalid:
            reader.problem(str(invalid), "checks", index)
    return tuple(compiled)


def _check(raw: Any) -> ExerciseCheck:
    """A grader check with its optional `part` and `field` (the grader knows neither)."""
    extra = {key: raw.pop(key) for key in ("part", "field") if isinstance(raw, dict) and key in raw}
    check = compile_check(raw)
    for key, value in extra.items():
        if not (isinstance(value, str) and value.strip()):
            raise CheckInvalid(f"check {check.expect!r}: {key} must be non-empty text")
    field = extra.get("field")
    if field is not None and not FIELD_RE.match(field.strip()):
        raise CheckInvalid(
            f"check {check.expect!r}: field {field!r} must name a request field, such as "
            "system or messages[-1].content"
        )
    plain = PLAIN_REQUEST_RE.match(check.expect)
    if field is None and plain is None and "request" in check.expect:
        raise CheckInvalid(
            f"check {check.expect!r} reads the request: add 'field:' naming the request field "
            "the editor should highlight when it fails"
        )
    # Copy every field the grader's Check has (a grader that knows part and field too included).
    fields = {name: getattr(check, name) for name in Check.__dataclass_fields__}
    fields["part"] = extra["part"].strip() if "part" in extra else None
    fields["field"] = field.strip() if field is not None else (plain.group(1) if plain else None)
    return ExerciseCheck(**fields)


def _wrong_answers(raw: Any, solution: Any, reader: _Reader) -> tuple[WrongAnswer, ...]:
    if raw is None:
        return ()  # reported as a missing key
    if not isinstance(raw, list) or len(raw) < MIN_WRONG_ANSWERS:
        reader.problem(
            f"wrong_answers must be a list of at least {MIN_WRONG_ANSWERS} entries, each a "
            "'mistake' and the 'body' a learner making it would send",
            "wrong_answers",
        )
        return ()
    answers = []
    for index, item in enumerate(raw):
        where = ("wrong_answers", index)
        if not isinstance(item, dict) or set(item) != {"mistake", "body"}:
            reader.problem(
                f"wrong answer {index + 1} must have exactly two keys, mistake and body", *where
            )
            continue
        if not (isinstance(item["mistake"], str) and item["mistake"].strip()):
            reader.problem(f"wrong answer {index + 1}: mistake must be non-empty text", *where)
            continue
        before = len(reader.problems)
        _check_json(item["body"], f"wrong answer {index + 1}'s body", reader, *where, "body")
        if len(reader.problems) > before:
            continue
        if isinstance(solution, str) and same_json(item["body"], solution):
            reader.problem(f"wrong answer {index + 1} is the solution itself", *where)
            continue
        body = item["body"].strip() + "\n"
        answers.append(WrongAnswer(item["mistake"].strip(), body, reader.line(*where)))
    return tuple(answers)


def same_json(first: str, second: str) -> bool:
    """Whether two JSON texts hold the same value (so layout and key order do not matter)."""
    try:
        return json.loads(first) == json.loads(second)
    except json.JSONDecodeError:
        return False


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
    tokens: list[Token], path: Path, body_line: int
) -> tuple[tuple[Exercise, ...], list[Problem]]:
    """A lesson's exercises and their problems, each reference solution run against its checks.

    `tokens` is the body with its placeholders filled in (what learners see), each token's map
    counting lines of the body as written.
    """
    from course.sandbox.solutions import health, health_problems  # runs the simulator: import late

    exercises, problems = parse_exercises(tokens, path, fence_lines(tokens, body_line))
    checked = tuple(replace(exercise, health=health(exercise)) for exercise in exercises)
    for exercise in checked:
        problems += health_problems(exercise, path)
    return checked, problems
