"""Grade a run: declarative JMESPath checks over {request, response, error, events}, never eval."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import jmespath
from jmespath.exceptions import JMESPathError
from jmespath.parser import ParsedResult

OPERATORS = (
    "equals",
    "not_equals",
    "at_least",
    "at_most",
    "above",
    "below",
    "exists",
    "contains",
    "matches",
    "one_of",
)
NUMERIC = {"at_least", "at_most", "above", "below"}
LABELS = ("part", "field")  # what a learner is shown about a check besides its message
# A request field as the editor names it: `system`, `messages[-1].content`, `tools[0].name`.
_PATH = r"[A-Za-z_][A-Za-z0-9_]*(?:\[-?\d+\])*(?:\.[A-Za-z_][A-Za-z0-9_]*(?:\[-?\d+\])*)*"
FIELD_RE = re.compile(rf"^{_PATH}$")
PLAIN_REQUEST_RE = re.compile(rf"^request\.({_PATH})$")
# The field an API error names first, as validator.py and the API write it: `messages.2.content`.
ERROR_FIELD_RE = re.compile(r"^([a-z_][a-z0-9_]*(?:\.(?:\d+|[a-z_][a-z0-9_]*))*): ")
_SEGMENT_RE = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)|\[(-?\d+)\]")
_READS_ERROR_RE = re.compile(r"\berror\b")
REFUSED = (
    "The API refused this request, so there is no reply to grade yet. Fix what its error names "
    "and run it again."
)


class CheckInvalid(ValueError):
    """A check an instructor wrote that cannot be evaluated; the message says why."""


@dataclass(frozen=True)
class Check:
    expect: str  # a JMESPath expression
    operator: str
    value: Any
    message: str  # the sentence a learner sees when this check fails
    compiled: ParsedResult
    part: str | None = None  # the part of the task it is about, e.g. "the system prompt"
    field: str | None = None  # the request field the editor marks, e.g. "messages[-1].content"

    def passes(self, data: dict[str, Any]) -> bool:
        return _apply(self.operator, self.compiled.search(data), self.value)


def compile_check(raw: Any) -> Check:
    """Build a Check from its YAML mapping; raise CheckInvalid with a clear reason."""
    if not isinstance(raw, dict):
        raise CheckInvalid("a check must be a mapping with expect, one operator and message")
    expect, message = raw.get("expect"), raw.get("message")
    if not isinstance(expect, str) or not expect.strip():
        raise CheckInvalid("a check needs 'expect': a JMESPath expression")
    if not isinstance(message, str) or not message.strip():
        raise CheckInvalid(f"check {expect!r} needs 'message': the sentence a learner sees")
    operators = [key for key in raw if key in OPERATORS]
    unknown = sorted(set(raw) - {"expect", "message", *LABELS, *OPERATORS})
    if unknown:
        raise CheckInvalid(
            f"check {expect!r}: unknown key {unknown[0]!r} (operators: {', '.join(OPERATORS)})"
        )
    if len(operators) != 1:
        raise CheckInvalid(
            f"check {expect!r} needs exactly one operator ({', '.join(OPERATORS)}), "
            f"found {len(operators)}"
        )
    operator = operators[0]
    value = raw[operator]
    _check_value(expect, operator, value)
    try:
        compiled = jmespath.compile(expect)
    except JMESPathError as error:
        reason = str(error).splitlines()[0]
        raise CheckInvalid(
            f"check {expect!r} is not a valid JMESPath expression: {reason}"
        ) from None
    part, field = _labels(expect, raw)
    return Check(expect.strip(), operator, value, message.strip(), compiled, part, field)


def _labels(expect: str, raw: dict) -> tuple[str | None, str | None]:
    """The check's `part` and `field`; a plain `request.<path>` expect names its own field."""
    for key in LABELS:
        if key in raw and not (isinstance(raw[key], str) and raw[key].strip()):
            raise CheckInvalid(f"check {expect!r}: {key} must be non-empty text")
    part = raw["part"].strip() if "part" in raw else None
    field = raw["field"].strip() if "field" in raw else None
    if field is not None and not FIELD_RE.match(field):
        raise CheckInvalid(
            f"check {expect!r}: field {field!r} must name a request field, "
            "such as system or messages[-1].content"
        )
    if field is None and (plain := PLAIN_REQUEST_RE.match(expect.strip())):
        field = plain.group(1)
    return part, field


def _check_value(expect: str, operator: str, value: Any) -> None:
    is_number = isinstance(value, int | float) and not isinstance(value, bool)
    if operator in NUMERIC and not is_number:
        raise CheckInvalid(f"check {expect!r}: {operator} needs a number, not {value!r}")
    if operator == "exists" and not isinstance(value, bool):
        raise CheckInvalid(f"check {expect!r}: exists takes true or false")
    if operator == "one_of" and not (isinstance(value, list) and value):
        raise CheckInvalid(f"check {expect!r}: one_of takes a non-empty list")
    if operator == "matches":
        if not isinstance(value, str):
            raise CheckInvalid(f"check {expect!r}: matches takes a regular expression string")
        try:
            re.compile(value)
        except re.error as error:
            raise CheckInvalid(f"check {expect!r}: bad regular expression: {error}") from None


def _apply(operator: str, found: Any, value: Any) -> bool:
    if operator == "exists":
        return (found is not None) is value
    if operator == "equals":
        return _same(found, value)
    if operator == "not_equals":
        return not _same(found, value)
    if operator == "one_of":
        return any(_same(found, item) for item in value)
    if operator in NUMERIC:
        if not isinstance(found, int | float) or isinstance(found, bool):
            return False
        return {
            "at_least": found >= value,
            "at_most": found <= value,
            "above": found > value,
            "below": found < value,
        }[operator]
    if operator == "contains":
        if isinstance(found, str):
            return isinstance(value, str) and value in found
        return isinstance(found, list) and any(_same(item, value) for item in found)
    if operator == "matches":
        return isinstance(found, str) and re.search(value, found) is not None
    raise CheckInvalid(f"unknown operator {operator!r}")


def _same(found: Any, value: Any) -> bool:
    # YAML reads `equals: true` as a bool and `equals: 1` as an int: never let True == 1 pass.
    if isinstance(found, bool) or isinstance(value, bool):
        return found is value
    return found == value


@dataclass(frozen=True)
class Verdict:
    passed: bool
    message: str
    failed_check: int | None  # index of the first failing check
    part: str | None = None  # the first failing check's part of the task
    field: str | None = None  # and the request field it names


def grade(checks: tuple[Check, ...], data: dict[str, Any]) -> Verdict:
    """Evaluate the checks in order; the first one that fails decides the message."""
    for index, check in enumerate(checks):
        try:
            ok = check.passes(data)
        except JMESPathError:  # a runtime type error in a function, e.g. length(null)
            ok = False
        if not ok:
            return Verdict(False, check.message, index, check.part, check.field)
    # A refused request never passes by accident: only an exercise whose checks read the error
    # (one about errors on purpose) can be passed by a run that got one.
    if data.get("error") and not any(_READS_ERROR_RE.search(c.expect) for c in checks):
        return Verdict(False, REFUSED, None, "the request")
    return Verdict(True, "Passed", None)


def error_field(message: str) -> str | None:
    """The request field an API error message starts with, in the editor's spelling:
    `messages.2.content.0.text: …` names `messages[2].content[0].text`."""
    found = ERROR_FIELD_RE.match(message or "")
    if found is None:
        return None
    path = ""
    for part in found.group(1).split("."):
        path += f"[{part}]" if part.isdigit() else f".{part}" if path else part
    return path


def field_in(body: Any, field: str) -> bool:
    """Whether the request body has this field (negative indexes count from the end)."""
    value = body
    for name, index in _SEGMENT_RE.findall(field):
        if name:
            if not isinstance(value, dict) or name not in value:
                return False
            value = value[name]
        else:
            position = int(index)
            if not isinstance(value, list) or not -len(value) <= position < len(value):
                return False
            value = value[position]
    return True
