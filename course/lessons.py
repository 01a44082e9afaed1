"""The lesson catalogue: find lessons/NN-*.md, parse and check them, render them to HTML.

Each file is re-read as soon as its modification time changes, so an instructor's edit shows on
the next page load. A file that breaks keeps serving its last good version (kept in the database,
so a restart serves it too), and the problem is logged at ERROR with the file and line, shown to
staff on every page, and reported by `manage.py check_lessons` and `manage.py check`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from django.conf import settings
from markdown_it import MarkdownIt
from markdown_it.token import Token

from course import markdown, placeholders, snapshots
from course.examples import Example, examples_in
from course.filecache import FileCache
from course.lesson_format import (
    FrontMatterChecker,
    LessonInvalid,
    Problem,
    split_front_matter,
)
from course.model_catalogue import ModelDataError, model_data
from course.sandbox.exercises import Exercise, lesson_exercises

logger = logging.getLogger(__name__)

LESSON_GLOB = "[0-9][0-9]-*.md"
FILES_URL = "/lessons/files/"  # files the examples read, served from lessons/files/


@dataclass(frozen=True)
class Question:
    key: str  # stable while the question text stays the same
    number: int
    text: str
    choices: dict[str, str]
    answer: str
    explanation: str

    def is_right(self, choice: str) -> bool:
        return choice == self.answer


@dataclass(frozen=True)
class Heading:
    level: int
    anchor: str
    text: str


@dataclass(frozen=True)
class Link:
    href: str
    line: int


@dataclass(frozen=True)
class Source:
    title: str
    url: str


@dataclass(frozen=True)
class TutorSettings:
    enabled: bool
    mode: str
    focus: str
    starters: tuple[str, ...]


@dataclass(frozen=True)
class Lesson:
    path: Path
    slug: str
    title: str
    order: int
    summary: str
    minutes: int
    objectives: tuple[str, ...]
    tutor: TutorSettings
    quiz: tuple[Question, ...]
    source: str  # the Markdown body, placeholders filled in: what the tutor reads
    html: str
    toc: tuple[Heading, ...]
    links: tuple[Link, ...] = field(repr=False)
    examples: tuple[Example, ...] = field(default=(), repr=False)  # its code blocks
    facts_checked: dt.date | None = None  # when its facts were last checked against `sources`
    sources: tuple[Source, ...] = ()
    exercises: tuple[Exercise, ...] = ()  # each one's slot is in `html` where its block stood

    def exercise(self, exercise_id: str) -> Exercise | None:
        return next((e for e in self.exercises if e.id == exercise_id), None)

    @property
    def anchors(self) -> set[str]:
        return {heading.anchor for heading in self.toc}

    def question(self, number: int) -> Question | None:
        return self.quiz[number - 1] if 1 <= number <= len(self.quiz) else None


def _inline_text(token: Token) -> str:
    return "".join(
        child.content for child in token.children or () if child.type in {"text", "code_inline"}
    )


def _check_body(
    tokens: list[Token], path: Path, body_line: int
) -> tuple[list[Problem], list[Link]]:
    problems: list[Problem] = []
    links: list[Link] = []
    previous_level = 1
    saw_h2 = False
    for index, token in enumerate(tokens):
        line = body_line + (token.map[0] if token.map else 0)
        if token.type == "heading_open":
            level = int(token.tag[1])
            title = _inline_text(tokens[index + 1])
            if level == 1:
                problems.append(
                    Problem(
                        path,
                        line,
                        f"'# {title}': start headings at '##' (the title is the page's h1)",
                    )
                )
            elif level > previous_level + 1:
                problems.append(
                    Problem(
                        path, line, f"heading '{title}' skips from h{previous_level} to h{level}"
                    )
                )
            saw_h2 = saw_h2 or level == 2
            previous_level = level
        if token.type == "inline":
            for child in token.children or ():
                if child.type == "link_open":
                    links.append(Link(str(child.attrGet("href") or ""), line))
    if not saw_h2:
        problems.append(
            Problem(path, body_line, "the lesson needs at least one '##' section heading")
        )
    return problems, links


def _fill_tables(body: str) -> tuple[str, list[int]]:
    """The body with each models table filled in, and for each of its lines the line of `body`
    it came from (a table is many lines where its placeholder was one)."""
    lines: list[str] = []
    origin: list[int] = []
    try:
        for number, line in enumerate(body.split("\n")):
            filled = placeholders.insert_tables(line, model_data).split("\n")
            lines += filled
            origin += [number] * len(filled)
    except (ModelDataError, OSError):
        # `placeholders.expand` has reported the broken data file: keep the placeholders.
        return body, list(range(body.count("\n") + 1))
    return "\n".join(lines), origin


def _parse_body(md: MarkdownIt, body: str) -> tuple[str, list[Token]]:
    """The body as learners and the tutor read it, and its tokens, parsed once.

    Each token's `map` counts lines of `body` as written, so every problem found in the tokens
    points at the line of the file, wherever a models table made the body longer.
    """
    source, origin = _fill_tables(body)
    tokens = md.parse(source)
    for token in tokens:
        if token.map:
            start, end = token.map
            token.map = [origin[start], origin[max(end - 1, start)] + 1]
    return source, tokens


def parse_lesson(text: str, path: Path) -> Lesson:
    # Placeholders first, so front matter, code blocks and exercise fences see the real values.
    placeholder_problems = placeholders.literal_facts(text, path, model_data)
    text, expand_problems = placeholders.expand(text, path, 1, model_data)
    placeholder_problems += expand_problems
    split = split_front_matter(text, path)
    problems = FrontMatterChecker(split, path).check()
    md = markdown.markdown()
    source, tokens = _parse_body(md, split.body)
    body_problems, links = _check_body(tokens, path, split.body_line)
    examples, example_problems = examples_in(tokens, path, split.body_line)
    problems += placeholder_problems + body_problems + example_problems
    if problems:
        raise LessonInvalid(problems)
    exercises, exercise_problems = lesson_exercises(tokens, path, split.body_line)
    if exercise_problems:
        raise LessonInvalid(exercise_problems)
    toc = tuple(
        Heading(int(token.tag[1]), str(token.attrGet("id")), _inline_text(tokens[index + 1]))
        for index, token in enumerate(tokens)
        if token.type == "heading_open" and token.tag in {"h2", "h3"}
    )
    fm = split.front_matter
    tutor = fm["tutor"]
    quiz = tuple(
        Question(
            key=hashlib.sha1(q["question"].strip().encode()).hexdigest()[:12],
            number=number,
            text=q["question"].strip(),
            choices={str(k): str(v).strip() for k, v in q["choices"].items()},
            answer=str(q["answer"]),
            explanation=q["explanation"].strip(),
        )
        for number, q in enumerate(fm["quiz"], start=1)
    )
    return Lesson(
        path=path,
        slug=fm["slug"],
        title=fm["title"].strip(),
        order=fm["order"],
        summary=fm["summary"].strip(),
        minutes=fm["minutes"],
        objectives=tuple(o.strip() for o in fm["objectives"]),
        tutor=TutorSettings(
            enabled=tutor.get("enabled", True),
            mode=tutor.get("mode", "socratic"),
            focus=tutor["focus"].strip(),
            starters=tuple(s.strip() for s in tutor["starters"]),
        ),
        quiz=quiz,
        source=source.strip() + "\n",
        html=md.renderer.render(tokens, md.options, {"exercise_slots": True}),
        toc=toc,
        links=tuple(links),
        examples=tuple(examples),
        facts_checked=fm["facts_checked"],
        sources=tuple(Source(s["title"].strip(), s["url"]) for s in fm["sources"]),
        exercises=exercises,
    )


@dataclass(frozen=True)
class Catalogue:
    lessons: tuple[Lesson, ...]
    problems: tuple[Problem, ...]

    def get(self, slug: str) -> Lesson | None:
        return next((lesson for lesson in self.lessons if lesson.slug == slug), None)

    def neighbours(self, lesson: Lesson) -> tuple[Lesson | None, Lesson | None]:
        index = self.lessons.index(lesson)
        previous = self.lessons[index - 1] if index > 0 else None
        following = self.lessons[index + 1] if index + 1 < len(self.lessons) else None
        return previous, following


def _parse_and_remember(text: str, path: Path) -> Lesson:
    lesson = parse_lesson(text, path)
    snapshots.remember(path, text)
    return lesson


def _recall(path: Path) -> Lesson | None:
    """The last good version another process or an earlier run stored, parsed again."""
    source = snapshots.recall(path)
    if source is None:
        return None
    try:
        lesson = parse_lesson(source, path)
    except LessonInvalid:
        return None
    _cache.keep_good(path, lesson)
    return lesson


_cache: FileCache[Lesson] = FileCache(_parse_and_remember)


def _check_catalogue(lessons: list[Lesson]) -> list[Problem]:
    problems: list[Problem] = []
    by_slug: dict[str, Lesson] = {}
    by_order: dict[int, Lesson] = {}
    for lesson in lessons:
        if lesson.slug in by_slug:
            problems.append(
                Problem(
                    lesson.path,
                    2,
                    f"slug {lesson.slug!r} is also used by {by_slug[lesson.slug].path.name}",
                )
            )
        if lesson.order in by_order:
            problems.append(
                Problem(
                    lesson.path,
                    2,
                    f"order {lesson.order} is also used by {by_order[lesson.order].path.name}",
                )
            )
        by_slug.setdefault(lesson.slug, lesson)
        by_order.setdefault(lesson.order, lesson)
    for lesson in lessons:
        for link in lesson.links:
            problem = _check_link(link, lesson, by_slug)
            if problem:
                problems.append(Problem(lesson.path, link.line, problem))
    return problems


def _check_link(link: Link, lesson: Lesson, by_slug: dict[str, Lesson]) -> str | None:
    parts = urlsplit(link.href)
    if parts.scheme or parts.netloc:
        return None  # an outside link: not ours to check
    if parts.path.startswith(FILES_URL):
        name = parts.path.removeprefix(FILES_URL)
        if lesson_file(name) is None:
            return f"link {link.href!r}: there is no file {name!r} in lessons/files/"
        return None
    if parts.path.endswith(".md"):
        return f"link {link.href!r} points at a file; link to /lessons/<slug>/ instead"
    target = lesson if not parts.path else None
    if parts.path.startswith("/lessons/"):
        slug = parts.path.removeprefix("/lessons/").strip("/")
        target = by_slug.get(slug)
        if target is None:
            return f"link {link.href!r}: there is no lesson with slug {slug!r}"
    if target and parts.fragment and parts.fragment not in target.anchors:
        anchor = parts.fragment
        return f"link {link.href!r}: lesson {target.slug!r} has no heading with anchor #{anchor}"
    return None


_reported: set[Problem] = set()


def _report(problems: list[Problem]) -> None:
    """Log each problem once, when it first appears, rather than on every page load."""
    for problem in problems:
        if problem not in _reported:
            logger.error("lesson problem: %s", problem)
    _reported.intersection_update(problems)
    _reported.update(problems)


def lesson_file(name: str) -> Path | None:
    """A file from lessons/files/ that lessons link to and examples read, or None."""
    directory = Path(settings.LESSONS_DIR) / "files"
    path = directory / name
    if "/" in name or name.startswith(".") or not path.is_file():
        return None
    return path


def _lifecycles() -> tuple[str, ...] | None:
    """What rendered lessons depend on beyond the files: the day's model statuses."""
    try:
        return model_data().lifecycle_key()
    except (ModelDataError, OSError):
        return None  # the lessons report the broken file themselves


def load_catalogue(directory: Path | None = None) -> Catalogue:
    directory = Path(directory or settings.LESSONS_DIR)
    lessons: list[Lesson] = []
    problems: list[Problem] = []
    lifecycles = _lifecycles()
    for path in sorted(directory.glob(LESSON_GLOB)):
        try:
            lessons.append(_cache.get(path, Path(settings.MODELS_FILE), version=lifecycles))
        except LessonInvalid as invalid:
            problems += invalid.problems
            fallback = _cache.last_good(path) or _recall(path)
            if fallback:
                lessons.append(fallback)
        except (OSError, UnicodeDecodeError) as error:
            problems.append(Problem(path, 1, f"cannot read the file: {error}"))
    problems += _check_catalogue(lessons)
    _report(problems)
    return Catalogue(tuple(sorted(lessons, key=lambda lesson: lesson.order)), tuple(problems))


def catalogue() -> Catalogue:
    return load_catalogue()
