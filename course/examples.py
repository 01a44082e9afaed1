"""Find a lesson's code examples and read the markers that say how the example runner runs them.

Every fenced `python` block and every shell block that calls `curl` is executed by the example
runner (course/example_runner.py) against the local fake API in CI, and against the real API by
`make verify-lessons`. Words after the language in the fence's info string are markers:

    ```python name=client            a name other blocks can refer to
    ```python needs=client           run after the block named `client`, in the same process
    ```python continues              run after the previous runnable block of the lesson
    ```python fails=TypeError        must raise exactly this exception (curl: fails=400, a status)
    ```python fake=refusal           the fake API answers this block with a refusal (see SCENARIOS)
    ```python norun="why not"        not run, with the reason
    ```bash norun="installs a package"

Data blocks (json, text, exercise, ...) are never run and need no marker. Any other block that the
runner cannot run (a shell block without curl, another language) must say `norun="<reason>"`.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path

from markdown_it.token import Token

from course.lesson_format import Problem

PYTHON = {"python", "py", "python3"}
SHELL = {"bash", "sh", "shell", "console"}
DATA = {
    "text", "txt", "json", "jsonl", "yaml", "yml", "toml", "http", "sse", "exercise", "markdown",
    "md", "csv", "diff", "output", "ini", "xml", "html",
}  # fmt: skip
# What the local fake API does for a block marked fake=<scenario>; the live API ignores it.
SCENARIOS = {
    "refusal": "a classifier refusal (HTTP 200, stop_reason refusal)",
    "stream-error": "a stream that starts, then fails with an overloaded_error event",
    "overloaded": "one 529 overloaded_error, then normal answers",
    "pause-turn": "every reply ends with stop_reason pause_turn",
    "max-tokens": "a reply cut off at max_tokens",
}
MARKERS = {"name", "needs", "continues", "fails", "fake", "norun"}


@dataclass(frozen=True)
class Example:
    path: Path
    line: int  # file line of the first line of code (the line after the opening fence)
    lang: str
    code: str
    name: str = ""
    needs: tuple[str, ...] = ()
    fails: str = ""
    fake: str = ""
    norun: str = ""

    @property
    def kind(self) -> str:
        """`python`, `curl`, or "" for a block the runner does not run."""
        if self.norun:
            return ""
        if self.lang in PYTHON:
            return "python"
        if self.lang in SHELL and _calls_curl(self.code):
            return "curl"
        return ""

    @property
    def label(self) -> str:
        return f"{self.path.name}:{self.line}"


def _calls_curl(code: str) -> bool:
    return any(line.strip().startswith("curl ") for line in code.splitlines())


def _markers(info: str) -> tuple[str, dict[str, str], str]:
    """Split an info string into (language, markers, error)."""
    try:
        words = shlex.split(info)
    except ValueError as error:
        return info.split()[0] if info.split() else "", {}, f"cannot read the markers: {error}"
    if not words:
        return "", {}, ""
    markers: dict[str, str] = {}
    for word in words[1:]:
        key, sep, value = word.partition("=")
        if key not in MARKERS and words[0].lower() in DATA:
            continue  # a data block's info string may carry words for other tools (exercises)
        if key not in MARKERS:
            return (
                words[0],
                markers,
                f"unknown marker {word!r} (markers: {', '.join(sorted(MARKERS))})",
            )
        if key == "continues" and sep:
            return words[0], markers, "write 'continues' alone, or needs=<name>"
        if key != "continues" and not value.strip():
            return words[0], markers, f"marker {key!r} needs a value: {key}=..."
        markers[key] = value.strip() if sep else "yes"
    return words[0].lower(), markers, ""


def examples_in(
    tokens: list[Token], path: Path, body_line: int
) -> tuple[list[Example], list[Problem]]:
    """The lesson's code blocks as Examples, and a problem for every bad or missing marker."""
    examples: list[Example] = []
    problems: list[Problem] = []
    names: dict[str, Example] = {}
    previous: Example | None = None
    for token in tokens:
        if token.type != "fence" or not token.map:
            continue
        line = body_line + token.map[0] + 1
        lang, markers, error = _markers(token.info)

        def problem(message: str, line: int = line) -> None:
            problems.append(Problem(path, line - 1, message))

        if error:
            problem(error)
            continue
        if not lang:
            problem("give the code block a language (python, bash, json, text...)")
            continue
        needs = tuple(n for n in markers.get("needs", "").split(",") if n)
        if "continues" in markers:
            if previous is None:
                problem("'continues' but there is no runnable block before this one")
                continue
            needs = (*needs, previous.name or previous.label)
        example = Example(
            path,
            line,
            lang,
            token.content,
            name=markers.get("name", ""),
            needs=needs,
            fails=markers.get("fails", ""),
            fake=markers.get("fake", ""),
            norun=markers.get("norun", ""),
        )
        for message in _check(example, names):
            problem(message)
        examples.append(example)
        if example.kind:
            names[example.label] = example
            if example.name:
                names[example.name] = example
            previous = example
    return examples, problems


def _check(example: Example, names: dict[str, Example]) -> list[str]:
    problems = []
    lang = example.lang
    if example.norun:
        if example.fails or example.needs or example.fake:
            problems.append("a norun block cannot also have fails, needs, continues or fake")
        return problems
    if lang in DATA:
        if example.fails or example.needs or example.fake or example.name:
            problems.append(f"a {lang} block is data and is never run: it takes no markers")
        return problems
    if not example.kind:
        what = "a shell block without a curl command" if lang in SHELL else f"a {lang} block"
        problems.append(f'{what} cannot be run: mark it norun="<the reason>"')
        return problems
    if example.fake and example.fake not in SCENARIOS:
        problems.append(
            f"unknown fake scenario {example.fake!r} (scenarios: {', '.join(SCENARIOS)})"
        )
    if example.kind == "curl" and example.fails and not example.fails.isdigit():
        problems.append("a curl block fails with an HTTP status: fails=400")
    if example.name and example.name in names:
        problems.append(f"another block is already named {example.name!r}")
    for need in example.needs:
        target = names.get(need)
        if target is None:
            problems.append(f"needs={need}: no runnable block above has that name")
        elif target.kind != example.kind:
            problems.append(
                f"needs={need}: a {example.kind} block cannot continue a {target.kind} one"
            )
        elif target.fails:
            problems.append(f"needs={need}: that block is meant to fail, so nothing can follow it")
    if example.kind == "python":
        try:
            compile(example.code, example.label, "exec")
        except SyntaxError as error:
            at = example.line + (error.lineno or 1) - 1
            problems.append(f"Python syntax error at line {at}: {error.msg}")
    return problems
