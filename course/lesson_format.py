"""Read one lesson file: split the front matter, check it against the schema, note each line."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

SLUG_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
TUTOR_MODES = ("socratic", "explain")
TOP_LEVEL_KEYS = {
    "title", "slug", "order", "summary", "minutes", "objectives", "tutor", "quiz",
    "facts_checked", "sources",
}  # fmt: skip
SOURCE_KEYS = {"title", "url"}
# The official pages a lesson's facts were checked against.
SOURCE_PREFIX = "https://platform.claude.com/"
TUTOR_KEYS = {"enabled", "mode", "focus", "starters"}
QUESTION_KEYS = {"question", "choices", "answer", "explanation"}


@dataclass(frozen=True)
class Problem:
    """Something wrong in a lesson file, pointing at the line to fix."""

    path: Path
    line: int
    message: str
    exercise: str | None = None  # the id of the exercise it is about, if any

    def __str__(self) -> str:
        try:
            shown = self.path.relative_to(Path.cwd())
        except ValueError:
            shown = self.path
        return f"{shown}:{self.line}: {self.message}"


class LessonInvalid(Exception):
    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("\n".join(map(str, problems)))
        self.problems = problems


@dataclass(frozen=True)
class SplitFile:
    front_matter: dict[str, Any]
    node: yaml.MappingNode
    body: str
    body_line: int  # file line number of the body's first line


def split_front_matter(text: str, path: Path) -> SplitFile:
    lines = text.splitlines(keepends=True)
    if not lines or lines[0].strip() != "---":
        raise LessonInvalid(
            [Problem(path, 1, "the file must start with '---' and YAML front matter")]
        )
    end = next((i for i in range(1, len(lines)) if lines[i].strip() == "---"), None)
    if end is None:
        raise LessonInvalid([Problem(path, 1, "the front matter has no closing '---' line")])
    yaml_text = "".join(lines[1:end])
    try:
        node = yaml.compose(yaml_text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(yaml_text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None) or getattr(error, "context_mark", None)
        line = mark.line + 2 if mark else 2
        reason = getattr(error, "problem", None) or str(error)
        raise LessonInvalid(
            [Problem(path, line, f"front matter is not valid YAML: {reason}")]
        ) from None
    if not isinstance(data, dict) or not isinstance(node, yaml.MappingNode):
        raise LessonInvalid([Problem(path, 2, "front matter must be a YAML mapping (key: value)")])
    return SplitFile(data, node, "".join(lines[end + 1 :]), end + 2)


class FrontMatterChecker:
    """Collect every schema problem at once, each with the line of the offending key."""

    def __init__(self, split: SplitFile, path: Path) -> None:
        self.split = split
        self.path = path
        self.problems: list[Problem] = []

    def line(self, *keys: str | int) -> int:
        node: yaml.Node = self.split.node
        for key in keys:
            found = None
            if isinstance(node, yaml.MappingNode):
                found = next((v for k, v in node.value if k.value == key), None)
                if found is None:
                    break
            elif isinstance(node, yaml.SequenceNode) and isinstance(key, int):
                found = node.value[key] if key < len(node.value) else None
            if found is None:
                break
            node = found
        return node.start_mark.line + 2

    def problem(self, message: str, *keys: str | int) -> None:
        self.problems.append(Problem(self.path, self.line(*keys), message))

    def text(self, value: Any, label: str, *keys: str | int) -> bool:
        if not isinstance(value, str) or not value.strip():
            self.problem(f"{label} must be non-empty text", *keys)
            return False
        return True

    def text_list(self, value: Any, label: str, low: int, high: int, *keys: str | int) -> None:
        if not isinstance(value, list) or not low <= len(value) <= high:
            self.problem(f"{label} must be a list of {low} to {high} items", *keys)
            return
        for index, item in enumerate(value):
            self.text(item, f"{label} item {index + 1}", *keys, index)

    def unknown_keys(self, mapping: dict, allowed: set[str], label: str, *keys: str | int) -> None:
        for key in mapping:
            if key not in allowed:
                expected = ", ".join(sorted(allowed))
                self.problem(f"unknown key {key!r} in {label} (expected: {expected})", *keys, key)

    def check(self) -> list[Problem]:
        fm = self.split.front_matter
        self.unknown_keys(fm, TOP_LEVEL_KEYS, "the front matter")
        for key in sorted(TOP_LEVEL_KEYS - fm.keys()):
            self.problem(f"missing required key {key!r}")
        if "title" in fm:
            self.text(fm["title"], "title", "title")
        if "slug" in fm and (not isinstance(fm["slug"], str) or not SLUG_RE.match(fm["slug"])):
            self.problem("slug must use lowercase letters, digits and single hyphens", "slug")
        if "order" in fm and (not isinstance(fm["order"], int) or fm["order"] < 1):
            self.problem("order must be a whole number of 1 or more", "order")
        summary = fm.get("summary")
        if "summary" in fm and self.text(summary, "summary", "summary") and "\n" in summary.strip():
            self.problem("summary must fit on one line", "summary")
        minutes = fm.get("minutes")
        if "minutes" in fm and (not isinstance(minutes, int) or not 1 <= minutes <= 240):
            self.problem("minutes must be a whole number from 1 to 240", "minutes")
        if "objectives" in fm:
            self.text_list(fm["objectives"], "objectives", 1, 8, "objectives")
        if "tutor" in fm:
            self.check_tutor(fm["tutor"])
        if "quiz" in fm:
            self.check_quiz(fm["quiz"])
        if "facts_checked" in fm:
            self.check_facts_checked(fm["facts_checked"])
        if "sources" in fm:
            self.check_sources(fm["sources"])
        return self.problems

    def check_facts_checked(self, value: Any) -> None:
        if not isinstance(value, dt.date) or isinstance(value, dt.datetime):
            self.problem("facts_checked must be a date (YYYY-MM-DD)", "facts_checked")
        elif value > dt.date.today():
            self.problem("facts_checked is in the future", "facts_checked")

    def check_sources(self, sources: Any) -> None:
        if not isinstance(sources, list) or not 1 <= len(sources) <= 8:
            self.problem("sources must be a list of 1 to 8 pages (title and url)", "sources")
            return
        for index, source in enumerate(sources):
            where = ("sources", index)
            label = f"source {index + 1}"
            if not isinstance(source, dict):
                self.problem(f"{label} must be a mapping with title and url", *where)
                continue
            self.unknown_keys(source, SOURCE_KEYS, label, *where)
            self.text(source.get("title"), f"{label}: title", *where, "title")
            url = source.get("url")
            if not isinstance(url, str) or not url.startswith(SOURCE_PREFIX):
                self.problem(
                    f"{label}: url must be an official page under {SOURCE_PREFIX}", *where, "url"
                )

    def check_tutor(self, tutor: Any) -> None:
        if not isinstance(tutor, dict):
            self.problem("tutor must be a mapping with focus and starters", "tutor")
            return
        self.unknown_keys(tutor, TUTOR_KEYS, "tutor", "tutor")
        if not isinstance(tutor.get("enabled", True), bool):
            self.problem("tutor.enabled must be true or false", "tutor", "enabled")
        if tutor.get("mode", "socratic") not in TUTOR_MODES:
            self.problem(f"tutor.mode must be one of: {', '.join(TUTOR_MODES)}", "tutor", "mode")
        self.text(tutor.get("focus"), "tutor.focus", "tutor", "focus")
        self.text_list(tutor.get("starters"), "tutor.starters", 3, 5, "tutor", "starters")

    def check_quiz(self, quiz: Any) -> None:
        if not isinstance(quiz, list) or not 3 <= len(quiz) <= 5:
            self.problem("quiz must be a list of 3 to 5 questions", "quiz")
            return
        for index, question in enumerate(quiz):
            where = ("quiz", index)
            label = f"quiz question {index + 1}"
            if not isinstance(question, dict):
                self.problem(f"{label} must be a mapping with question, choices, answer", *where)
                continue
            self.unknown_keys(question, QUESTION_KEYS, label, *where)
            self.text(question.get("question"), f"{label}: question", *where, "question")
            self.text(question.get("explanation"), f"{label}: explanation", *where, "explanation")
            choices = question.get("choices")
            if not isinstance(choices, dict) or not 2 <= len(choices) <= 6:
                self.problem(f"{label}: choices must map 2 to 6 keys to answers", *where, "choices")
                continue
            for key, choice in choices.items():
                self.text(choice, f"{label}: choice {key!r}", *where, "choices", key)
            answer = question.get("answer")
            if answer not in choices:
                keys = ", ".join(map(str, choices))
                self.problem(
                    f"{label}: answer {answer!r} is not one of the choices ({keys})",
                    *where,
                    "answer",
                )
