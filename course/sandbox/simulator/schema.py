"""A JSON value that satisfies a JSON schema, derived from the conversation where it can be.

Covers what structured outputs and tool input schemas use: type (or a list of types), enum,
const, properties, required, additionalProperties, items, prefixItems, min/max items, lengths
and bounds, anyOf/oneOf/allOf, $ref into $defs or definitions, format, default and examples.
The words are placeholders, labelled as simulated; the shape is what the schema asks for. A
`pattern` is met only when one of a few plain strings happens to match it.
"""

from __future__ import annotations

import re
from typing import Any

FORMATS = {
    "date": "2026-01-01",
    "date-time": "2026-01-01T00:00:00Z",
    "time": "00:00:00Z",
    "email": "learner@example.com",
    "uri": "https://example.com/",
    "url": "https://example.com/",
    "uuid": "00000000-0000-4000-8000-000000000000",
    "hostname": "example.com",
    "ipv4": "192.0.2.1",
    "ipv6": "2001:db8::1",
}
PLACE_NAMES = ("location", "city", "place", "country", "region", "destination", "town")
TEXT_NAMES = ("query", "question", "text", "prompt", "input", "message", "search", "content")
STOPWORDS = {"What", "How", "Why", "When", "Where", "Who", "Which", "The", "I", "Is", "Can"}


class Context:
    """The conversation text a value may quote: the last user turn."""

    def __init__(self, text: str) -> None:
        self.text = " ".join(text.split())
        self.lower = self.text.lower()
        self.numbers = re.findall(r"-?\d+(?:\.\d+)?", self.text)

    def place(self) -> str | None:
        found = re.search(
            r"\b(?:in|for|at|to|near|from)\s+([A-Z][\w'-]*(?:\s+[A-Z][\w'-]*)*)", self.text
        )
        if found:
            return found.group(1)
        names = [w for w in re.findall(r"\b[A-Z][a-z][\w'-]*", self.text) if w not in STOPWORDS]
        return names[0] if names else None


def instance(schema: Any, context: Context, name: str = "", root: Any = None) -> Any:
    """A value valid against `schema` (a draft 2020-12 subset)."""
    root = schema if root is None else root
    if schema is True or not isinstance(schema, dict):
        return _string({}, context, name)
    if "$ref" in schema:
        return instance(_resolve(schema["$ref"], root), context, name, root)
    if "allOf" in schema:
        merged = _merge(schema, root)
        return instance(merged, context, name, root)
    for key in ("anyOf", "oneOf"):
        if schema.get(key):
            return instance(schema[key][0], context, name, root)
    if "const" in schema:
        return schema["const"]
    if "enum" in schema:
        return _choose(schema["enum"], context)
    for key in ("default", "examples"):
        if key in schema:
            value = schema[key][0] if key == "examples" and schema[key] else schema.get(key)
            if value is not None and _type_of(schema) in (None, _json_type(value)):
                return value
    kind = _type_of(schema)
    if kind == "object" or (kind is None and "properties" in schema):
        return _object(schema, context, root)
    if kind == "array" or (kind is None and ("items" in schema or "prefixItems" in schema)):
        return _array(schema, context, name, root)
    if kind == "integer":
        return int(_number(schema, context, integer=True))
    if kind == "number":
        return _number(schema, context, integer=False)
    if kind == "boolean":
        return True
    if kind == "null":
        return None
    return _string(schema, context, name)


def _type_of(schema: dict) -> str | None:
    kind = schema.get("type")
    if isinstance(kind, list):
        real = [k for k in kind if k != "null"]
        return real[0] if real else "null"
    return kind


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return "null"


def _resolve(ref: str, root: Any) -> Any:
    node = root
    for part in ref.removeprefix("#/").split("/") if ref != "#" else []:
        part = part.replace("~1", "/").replace("~0", "~")
        node = node.get(part, {}) if isinstance(node, dict) else {}
    return node


def _merge(schema: dict, root: Any) -> dict:
    merged = {k: v for k, v in schema.items() if k != "allOf"}
    for part in schema["allOf"]:
        part = _resolve(part["$ref"], root) if isinstance(part, dict) and "$ref" in part else part
        if not isinstance(part, dict):
            continue
        for key, value in part.items():
            if key == "properties":
                properties = dict(merged.get("properties", {}))
                for name, sub in value.items():  # both sides constrain the same property
                    properties[name] = {**properties.get(name, {}), **sub}
                merged["properties"] = properties
            elif key == "required":
                merged["required"] = [*merged.get("required", []), *value]
            else:
                merged.setdefault(key, value)
    return merged


def _choose(options: list, context: Context) -> Any:
    """The option the conversation mentions, else the first."""
    for option in options:
        if (
            isinstance(option, str)
            and option
            and re.search(rf"\b{re.escape(option.lower())}\b", context.lower)
        ):
            return option
    return options[0] if options else None


def _object(schema: dict, context: Context, root: Any) -> dict:
    properties = schema.get("properties") or {}
    value = {key: instance(sub, context, key, root) for key, sub in properties.items()}
    for key in schema.get("required") or []:
        if key not in value:  # required but not described: any value the schema allows
            extra = schema.get("additionalProperties")
            value[key] = instance(extra if isinstance(extra, dict) else {}, context, key, root)
    minimum = schema.get("minProperties") or 0
    extra = schema.get("additionalProperties", True)
    while len(value) < minimum and extra is not False:
        value[f"item_{len(value) + 1}"] = instance(
            extra if isinstance(extra, dict) else {}, context, "item", root
        )
    return value


def _array(schema: dict, context: Context, name: str, root: Any) -> list:
    prefix = schema.get("prefixItems") or []
    items = schema.get("items", {})
    low = schema.get("minItems") or 0
    high = schema.get("maxItems")
    count = max(low, len(prefix), 1 if high != 0 else 0)
    if high is not None:
        count = min(count, high)
    values = [instance(sub, context, name, root) for sub in prefix[:count]]
    if isinstance(items, dict) and "enum" in items and schema.get("uniqueItems"):
        mentioned = [o for o in items["enum"] if isinstance(o, str) and o.lower() in context.lower]
        pool = list(dict.fromkeys([*mentioned, *items["enum"]]))
        return [*values, *pool[: count - len(values)]]
    while len(values) < count:
        values.append(instance(items if items is not False else {}, context, name, root))
        if schema.get("uniqueItems") and len(values) > 1 and values[-1] in values[:-1]:
            values[-1] = _vary(values[-1], len(values))
    return values


def _vary(value: Any, n: int) -> Any:
    if isinstance(value, str):
        return f"{value} {n}"
    if isinstance(value, bool):
        return not value
    if isinstance(value, int | float):
        return value + n
    return value


def _number(schema: dict, context: Context, *, integer: bool) -> float:
    low = schema.get("minimum", schema.get("exclusiveMinimum"))
    high = schema.get("maximum", schema.get("exclusiveMaximum"))
    step = 1 if integer else 0.5
    candidates = [float(n) for n in context.numbers] + [1.0]
    for value in candidates:
        if integer and value != int(value):
            continue
        if _in_bounds(schema, value):
            return _multiple(schema, value)
    value = float(low) + step if low is not None else float(high) - step
    if "minimum" in schema:
        value = float(schema["minimum"])
    if integer:
        value = (
            float(int(value)) if _in_bounds(schema, float(int(value))) else float(int(value) + 1)
        )
    return _multiple(schema, value)


def _in_bounds(schema: dict, value: float) -> bool:
    return (
        ("minimum" not in schema or value >= schema["minimum"])
        and ("maximum" not in schema or value <= schema["maximum"])
        and ("exclusiveMinimum" not in schema or value > schema["exclusiveMinimum"])
        and ("exclusiveMaximum" not in schema or value < schema["exclusiveMaximum"])
    )


def _multiple(schema: dict, value: float) -> float:
    step = schema.get("multipleOf")
    if not step:
        return value
    rounded = step * -(-value // step)  # the next multiple at or above the value
    return rounded if _in_bounds(schema, rounded) else step * (value // step)


def _string(schema: dict, context: Context, name: str) -> str:
    if schema.get("format") in FORMATS:
        return FORMATS[schema["format"]]
    lowered = name.lower()
    value = None
    if any(word in lowered for word in PLACE_NAMES):
        value = context.place()
    elif any(word in lowered for word in TEXT_NAMES):
        value = context.text or None
    if value is None:
        label = name.replace("_", " ").strip() or "value"
        value = f"simulated {label}"
    low, high = schema.get("minLength", 0), schema.get("maxLength")
    if high is not None and len(value) > high:
        value = value[:high]
    if len(value) < low:
        value = value + "x" * (low - len(value))
    if "pattern" in schema:  # no regex inversion: the first of a few plain candidates that fits
        fits = [c for c in (value, "simulated", "A1", "a", "A", "1", "") if _matches(schema, c)]
        value = fits[0] if fits else value
    return value


def _matches(schema: dict, value: str) -> bool:
    try:
        found = re.search(schema["pattern"], value) is not None
    except re.error:
        return False
    high = schema.get("maxLength")
    return (
        found and len(value) >= schema.get("minLength", 0) and (high is None or len(value) <= high)
    )
