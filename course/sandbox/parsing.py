"""The learner's request body: parsed, or refused with the reason, whatever the bytes."""

from __future__ import annotations

import json
import math
from typing import Any

from course.sandbox import policy
from course.sandbox.validator import ApiError

MAX_DEPTH = 64  # deeper than any request the API takes, shallow enough for every reader


class _Unstorable(ValueError):
    """A value JSON allows but the API and the database do not: NaN, Infinity."""


def _finite(text: str) -> float:
    number = float(text)
    if math.isinf(number):
        raise _Unstorable(f"the number {text[:40]} is too large to be a JSON number the API reads")
    return number


def _constant(name: str) -> float:
    raise _Unstorable(f"{name} is not valid JSON (JSON has no NaN or Infinity)")


def parse_body(text: str) -> tuple[Any, ApiError | None]:
    """The learner's JSON, or the error saying why it cannot be run (nor stored).

    Total: whatever the bytes, this returns. It refuses what JSON allows but the API, or the
    database the attempt is saved in, does not: NaN and Infinity, lone surrogates, NUL (which
    PostgreSQL refuses in text and jsonb), nesting deeper than any request needs.
    """
    if problem := unstorable_text(text):
        return None, policy.refused(f"The request body cannot be sent: {problem}.")
    try:
        body = json.loads(text, parse_constant=_constant, parse_float=_finite)
    except json.JSONDecodeError as error:
        return None, policy.refused(
            f"The request body is not valid JSON: {error.msg} at line {error.lineno}, "
            f"column {error.colno}."
        )
    except _Unstorable as error:
        return None, policy.refused(f"The request body cannot be sent: {error}.")
    except RecursionError:
        return None, _too_deep()
    except ValueError:  # an integer of thousands of digits
        return None, policy.refused(
            "The request body cannot be sent: a number in it has too many digits."
        )
    if problem := _unstorable_value(body):
        return None, problem
    return body, None


def unstorable_text(text: str) -> str:
    if "\x00" in text:
        return "it contains a NUL character (U+0000)"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as error:
        return f"it contains a lone surrogate at character {error.start + 1}, which is not text"
    return ""


def _too_deep() -> ApiError:
    return policy.refused(
        f"The request body cannot be sent: it nests more than {MAX_DEPTH} levels deep."
    )


def _unstorable_value(body: Any) -> ApiError | None:
    """Walk the parsed body (without recursion) for what its text did not show: escapes such
    as \\u0000 or a lone \\ud800, and depth."""
    pending: list[tuple[Any, int]] = [(body, 1)]
    while pending:
        value, depth = pending.pop()
        if depth > MAX_DEPTH:
            return _too_deep()
        if isinstance(value, dict):
            pending.extend((key, depth) for key in value)
            pending.extend((item, depth + 1) for item in value.values())
        elif isinstance(value, list):
            pending.extend((item, depth + 1) for item in value)
        elif isinstance(value, str) and unstorable_text(value):
            return policy.refused(
                "The request body cannot be sent: a string in it holds an escaped NUL (\\u0000) "
                "or a lone surrogate (such as \\ud800), which is not text."
            )
    return None


def storable(text: str) -> str:
    """The text with what the database refuses made visible: NUL and lone surrogates."""
    text = text.replace("\x00", "\\u0000")
    return text.encode("utf-8", "backslashreplace").decode("utf-8")
