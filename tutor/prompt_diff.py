"""A line diff between two versions of a tutor system prompt, written for people to read."""

from __future__ import annotations

import difflib
import itertools
import json
from dataclasses import dataclass

KINDS = {"@": "hunk", "+": "added", "-": "removed", " ": "same"}


@dataclass(frozen=True)
class DiffLine:
    kind: str  # hunk, added, removed or same
    sign: str
    text: str


@dataclass(frozen=True)
class PromptDiff:
    lines: tuple[DiffLine, ...]
    added: int
    removed: int

    @property
    def changed(self) -> bool:
        return bool(self.added or self.removed)

    @property
    def summary(self) -> str:
        return f"+{_lines(self.added)}, −{_lines(self.removed)}"


def _lines(count: int) -> str:
    return f"{count} line" if count == 1 else f"{count} lines"


def _line(raw: str) -> DiffLine:
    kind = KINDS[raw[0]]
    if kind == "hunk":
        return DiffLine(kind, "", raw)
    return DiffLine(kind, raw[0].strip(), raw[1:])


def readable(blocks: list[dict]) -> list[str]:
    """The blocks as lines: a header with each block's other fields, then its text.

    We diff this rather than the stored JSON, where each block's text is one long escaped
    string, so a one-word edit would show as a whole block removed and re-added. The header
    keeps the block order and cache_control in the diff, and split("\n") keeps trailing
    newlines, so two prompts read the same here exactly when their canonical JSON is equal.
    """
    lines: list[str] = []
    for number, block in enumerate(blocks, start=1):
        fields = {key: value for key, value in block.items() if key != "text"}
        lines.append(f"━━ system block {number} {json.dumps(fields, sort_keys=True)}")
        lines.extend(str(block.get("text", "")).split("\n"))
    return lines


def prompt_diff(old: list[dict], new: list[dict]) -> PromptDiff:
    diff = difflib.unified_diff(readable(old), readable(new), lineterm="")
    lines = tuple(_line(raw) for raw in itertools.islice(diff, 2, None))  # past ---/+++
    return PromptDiff(
        lines=lines,
        added=sum(line.kind == "added" for line in lines),
        removed=sum(line.kind == "removed" for line in lines),
    )
