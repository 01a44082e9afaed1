"""What the fake Messages API writes for requests that ask for a shape: structured outputs and
stop sequences (stdlib only, like tests/fake_anthropic.py)."""

from __future__ import annotations

from typing import Any


def json_schema(body: dict[str, Any]) -> Any:
    config = body.get("output_config")
    fmt = config.get("format") if isinstance(config, dict) else None
    return fmt.get("schema") if isinstance(fmt, dict) and fmt.get("type") == "json_schema" else None


def example_of(schema: Any) -> Any:
    """The simplest value that fits a JSON schema: the first enum value, "example", 0, …."""
    if not isinstance(schema, dict):
        return None
    if schema.get("enum"):
        return schema["enum"][0]
    kind = schema.get("type")
    if kind == "object":
        properties = schema.get("properties") or {}
        return {name: example_of(sub) for name, sub in properties.items()}
    if kind == "array":
        return [example_of(schema.get("items"))]
    defaults = {"string": "example", "integer": 0, "number": 0, "boolean": True}
    return defaults.get(kind)


def stop_at(chunks: list[str], stop_sequences: Any) -> tuple[list[str], str] | None:
    """Cut the reply before the first stop sequence it contains, as the API does (the matched
    text is left out of the content); return the chunks left and the sequence, or None."""
    text = "".join(chunks)
    found = [(text.find(s), s) for s in stop_sequences or [] if isinstance(s, str) and s in text]
    if not found:
        return None
    cut, sequence = min(found)
    kept, length = [], 0
    for chunk in chunks:
        if length + len(chunk) >= cut:
            kept.append(chunk[: cut - length])
            break
        kept.append(chunk)
        length += len(chunk)
    return [chunk for chunk in kept if chunk] or [""], sequence
