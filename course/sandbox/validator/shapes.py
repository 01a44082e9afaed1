"""The request's shape, checked against the SDK's own TypedDicts (anthropic.types), API-style.

The installed `anthropic` package is generated from Anthropic's OpenAPI spec, so its request
types say which keys exist, which are required, which literal values are allowed and which
unions are tagged by `type`. This module walks a JSON value along those annotations and reports
the first mismatch as the API does, in pydantic's words, with the union tag in the path
(`messages.0.content.0.image.source.base64.media_type: Input should be ...`, as the API's own
errors read). Nothing is hand-listed here: a new SDK release brings its new fields with it.

It is written as a small walker rather than a pydantic TypeAdapter because the SDK annotates
lists as `Iterable[...]`, which pydantic validates lazily (never, unless iterated), and because
a smart union reports one error per member where the API reports the tagged member's error.
"""

from __future__ import annotations

import collections.abc
import functools
import math
import types
import typing
from typing import Any

from typing_extensions import is_typeddict

Problem = tuple[str, str]  # (field path, message)
MAX_DEPTH = 64  # deeper than any SDK type nests; stops a pathological value early
LISTS = {
    list, collections.abc.Iterable, collections.abc.Sequence, collections.abc.Iterator,
    typing.List, typing.Iterable, typing.Sequence,  # noqa: UP006
}  # fmt: skip
DICTS = {dict, collections.abc.Mapping, typing.Dict, typing.Mapping}  # noqa: UP006
DISCRIMINATORS = (("type", True), ("role", False))  # (key, whether the API puts the tag in paths)


def join(path: tuple[str, ...]) -> str:
    return ".".join(path)


def json_kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "str"
    if isinstance(value, list):
        return "list"
    if isinstance(value, dict):
        return "dict"
    return "other"


def _strip(hint: Any) -> Any:
    """The hint without Required/NotRequired/Annotated wrappers."""
    while typing.get_origin(hint) in (typing.Required, typing.NotRequired, typing.Annotated):
        hint = typing.get_args(hint)[0]
    return hint


@functools.cache
def fields(td: type) -> tuple[dict[str, Any], frozenset[str], bool]:
    """(hints, required keys, extra keys allowed) of a TypedDict, from its own annotations."""
    hints = typing.get_type_hints(td, include_extras=True)
    total = getattr(td, "__total__", True)
    required = frozenset(
        name
        for name, hint in hints.items()
        if typing.get_origin(hint) is typing.Required
        or (total and typing.get_origin(hint) is not typing.NotRequired)
    )
    extra = (getattr(td, "__pydantic_config__", None) or {}).get("extra") == "allow"
    return {name: _strip(hint) for name, hint in hints.items()}, required, extra


def _union_members(hint: Any) -> tuple[Any, ...] | None:
    """A union's members, nested unions flattened; the SDK's response models left out.

    Content unions also admit the SDK's response objects (pydantic models, so that a reply can be
    sent back as it is); on the wire those are the same dicts the param TypedDicts describe.
    """
    origin = typing.get_origin(hint)
    if origin is not typing.Union and origin is not types.UnionType:
        return None
    members: list[Any] = []
    for arg in typing.get_args(hint):
        arg = _strip(arg)
        nested = _union_members(arg)
        members += nested if nested is not None else [arg]
    kept = [m for m in members if not hasattr(m, "model_fields")]  # pydantic models
    return tuple(kept or members)


def _literal_values(hint: Any) -> tuple[Any, ...] | None:
    return typing.get_args(hint) if typing.get_origin(hint) is typing.Literal else None


@functools.cache
def tags(members: tuple[Any, ...]) -> tuple[str, bool, dict[Any, Any], Any] | None:
    """How a union of TypedDicts is told apart: (key, tag in path, tag -> member, default).

    `default` is the member whose discriminator may be left out (a custom tool's `type`).
    """
    if not members or not all(is_typeddict(m) for m in members):
        return None
    for key, in_path in DISCRIMINATORS:
        by_tag: dict[Any, Any] = {}
        default = None
        for member in members:
            hints, required, _ = fields(member)
            hint = hints.get(key)
            values = _literal_values(_strip(hint)) if hint is not None else None
            inner = _union_members(hint) if hint is not None and values is None else None
            if values is None and inner:
                literal = [v for m in inner for v in (_literal_values(m) or ())]
                values = tuple(literal) or None
            if values is None:
                break
            for value in values:
                by_tag.setdefault(value, member)
            if key not in required:
                default = member
        else:
            return key, in_path, by_tag, default
    return None


def _expected(values: tuple[Any, ...]) -> str:
    shown = [repr(v) if isinstance(v, str) else str(v) for v in values]
    return shown[0] if len(shown) == 1 else f"{', '.join(shown[:-1])} or {shown[-1]}"


def describe(hint: Any) -> str:
    """What a value of this type is, in the words of pydantic's messages."""
    hint = _strip(hint)
    values = _literal_values(hint)
    if values is not None:
        return "a valid boolean" if all(isinstance(v, bool) for v in values) else "a valid string"
    if hint is str:
        return "a valid string"
    if hint is int:
        return "a valid integer"
    if hint is float:
        return "a valid number"
    if hint is bool:
        return "a valid boolean"
    if is_typeddict(hint) or typing.get_origin(hint) in DICTS or hint in DICTS:
        return "a valid dictionary"
    origin = typing.get_origin(hint)
    if origin in LISTS:
        item = _strip(typing.get_args(hint)[0]) if typing.get_args(hint) else object
        if is_typeddict(item):
            tag = _literal_values(_strip(fields(item)[0].get("type", object)))
            return f"a list of {tag[0]} blocks" if tag else "a valid list"
        members = _union_members(item)
        tagged = tags(members) if members else None
        if tagged and tagged[0] == "type" and "text" in tagged[2]:
            return "a list of content blocks"
        return "a valid list of strings" if item is str else "a valid list"
    if hint is type(None):
        return "null"
    return "a valid value"


def accepts(hint: Any, kind: str) -> bool:
    """Whether a value of this JSON kind could be of this type (before looking inside it)."""
    hint = _strip(hint)
    if hint in (object, Any):
        return True
    values = _literal_values(hint)
    if values is not None:
        return any(json_kind(v) == kind for v in values)
    members = _union_members(hint)
    if members:
        return any(accepts(m, kind) for m in members)
    if hint is type(None):
        return kind == "null"
    if hint is float:
        return kind in ("int", "float")
    simple = {str: "str", int: "int", bool: "bool"}
    if hint in simple:
        return kind == simple[hint]
    origin = typing.get_origin(hint) or hint
    if is_typeddict(hint) or origin in DICTS:
        return kind == "dict"
    if origin in LISTS:
        return kind == "list"
    return False


def check(value: Any, hint: Any, path: tuple[str, ...] = ()) -> Problem | None:
    """The first place `value` does not fit `hint`, or None."""
    hint = _strip(hint)
    if len(path) > MAX_DEPTH:
        return join(path), "Input is nested too deeply"
    if hint in (object, Any):
        return None
    values = _literal_values(hint)
    if values is not None:
        if any(value == v and type(value) is type(v) for v in values):
            return None
        if all(isinstance(v, bool) for v in values) and not isinstance(value, bool):
            return join(path), "Input should be a valid boolean"
        return join(path), f"Input should be {_expected(values)}"
    members = _union_members(hint)
    if members is not None:
        return _check_union(value, members, path)
    if is_typeddict(hint):
        return _check_typeddict(value, hint, path)
    return _check_plain(value, hint, path)


def _check_plain(value: Any, hint: Any, path: tuple[str, ...]) -> Problem | None:
    kind = json_kind(value)
    if hint is type(None):
        return None if value is None else (join(path), "Input should be None")
    if hint is float and kind == "float" and not math.isfinite(value):
        return join(path), "Input should be a finite number"
    origin = typing.get_origin(hint) or hint
    if origin in LISTS and kind == "list":
        args = typing.get_args(hint)
        item = args[0] if args else object
        for index, element in enumerate(value):
            if problem := check(element, item, (*path, str(index))):
                return problem
        return None
    if origin in DICTS and kind == "dict":
        args = typing.get_args(hint)
        item = args[1] if len(args) == 2 else object
        for key, element in value.items():
            if problem := check(element, item, (*path, str(key))):
                return problem
        return None
    if accepts(hint, kind):
        return None
    return join(path), f"Input should be {describe(hint)}"


def _check_typeddict(value: Any, td: type, path: tuple[str, ...]) -> Problem | None:
    if not isinstance(value, dict):
        return join(path), "Input should be a valid dictionary"
    hints, required, extra = fields(td)
    # The tag first, as for a tagged union: "system.0.type: Input should be 'text'" says more
    # about an image block in `system` than the text it lacks.
    for name, hint in sorted(hints.items(), key=lambda item: item[0] != "type"):
        if name not in value:
            if name in required:
                return join((*path, name)), "Field required"
            continue
        if problem := check(value[name], hint, (*path, name)):
            return problem
    if not extra:
        for name in value:
            if name not in hints:
                return join((*path, str(name))), "Extra inputs are not permitted"
    return None


def _check_union(value: Any, members: tuple[Any, ...], path: tuple[str, ...]) -> Problem | None:
    if value is None and type(None) in members:
        return None
    members = tuple(m for m in members if m is not type(None))
    if len(members) == 1:  # Optional[X]: X's own error (a literal lists its values)
        return check(value, members[0], path)
    tagged = tags(members)
    if tagged and isinstance(value, dict):
        key, in_path, by_tag, default = tagged
        tag = value.get(key)
        if default is not None and tag is None:
            member = default
            tag = next(t for t, m in by_tag.items() if m is default)
        elif key not in value:
            return join((*path, key)), "Field required"
        elif isinstance(tag, str) and tag in by_tag:
            member = by_tag[tag]
        elif in_path:
            expected = ", ".join(repr(t) for t in by_tag)
            shown = repr(tag) if isinstance(tag, str | int | float | bool) else json_kind(tag)
            return join(path), (
                f"Input tag {shown} found using {key!r} does not match any of the expected "
                f"tags: {expected}"
            )
        else:
            return join((*path, key)), f"Input should be {_expected(tuple(by_tag))}"
        return check(value, member, (*path, str(tag)) if in_path else path)
    kind = json_kind(value)
    candidates = [m for m in members if accepts(m, kind)]
    if not candidates:
        described = list(dict.fromkeys(describe(m) for m in members))
        return join(path), f"Input should be {' or '.join(described)}"
    first: Problem | None = None
    for member in candidates:
        problem = check(value, member, path)
        if problem is None:
            return None
        first = first or problem
    return first
