"""Simulated reply text: deterministic, labelled as simulated, and shaped by the prompt.

The format comes from rules a reader can check, applied to the system prompt and the last user
turn (first match wins):
- JSON mentioned ("json") -> one JSON object (nested, so a "}" stop sequence cuts it early);
- a single word, name or label ("one word", "one label", "only the name", ...) -> one word, the
  first listed option the prompt names ("bug, feature or question") or "Simulated";
- a poem, haiku or verse -> that many lines (a "two-line poem" has two);
- one sentence -> one sentence; one paragraph -> one paragraph;
- numbered steps ("numbered", "steps", "step by step", "how do I") -> a numbered list;
- a bulleted list ("bullet", "list") -> a list of "- " items;
- otherwise two short paragraphs.
A separator the prompt asks for (a symbol run such as ###, or a stop sequence it quotes) is
written on its own line after the main answer, followed by a short second part.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from course.sandbox.simulator.cache import blocks

LABEL = "(Simulated reply: no model wrote this; its words come from fixed rules.)"
MARKER_RE = re.compile(r"(?<!\S)([#*=~<>|-]{3,})(?!\S)")
POINTS = (
    "Start from the smallest request that works, then add one parameter at a time.",
    "Read the whole response object, not only the text: stop_reason and usage tell you a lot.",
    "Keep the stable part of the prompt first so that it can be cached and reused.",
    "Check every field the API returns before you rely on it in your code.",
    "Measure tokens with the counting endpoint instead of guessing from characters.",
    "Handle errors by type: retry what is temporary and fix what is not.",
    "Stream long replies so that people see the first words quickly.",
    "Send the whole conversation each time, because the API keeps no state between calls.",
)
STEPS = (
    "Find the part of the product or code the question is about.",
    "Open the screen, menu or file where that setting lives.",
    "Make the one change the task needs, and save it.",
    "Check the result, and undo the change if it is not what you expected.",
)
VERSES = (
    "A simulated verse about {subject},",
    "written by rules and not by a model;",
    "the shape is the one the API returns,",
    "and the words are placeholders all the same.",
    "Read the fields, and let the stop reason speak.",
)
NUMBERS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "single": 1}
SINGLE_RE = re.compile(
    r"\b(one|single|1)[ -](word|name|label|term|token)\b|"
    r"\b(only|just) (the|a|one) (word|name|label|number|answer)\b|"
    r"\bexactly one (word|label|name)\b|\bone-word\b"
)
# A listed choice: after a colon "a or b" is enough; elsewhere it takes "a, b or c".
OPTIONS_RES = (
    re.compile(r":\s*([\w-]+(?:,\s*[\w-]+)*,?\s+or\s+[\w-]+)"),
    re.compile(r"([\w-]+(?:,\s*[\w-]+)+,?\s+or\s+[\w-]+)"),
)


def texts(content: Any) -> str:
    return " ".join(
        b["text"] for b in blocks(content) if isinstance(b, dict) and isinstance(b.get("text"), str)
    )


def last_user_text(body: dict[str, Any]) -> str:
    return next(
        (texts(m["content"]) for m in reversed(body["messages"]) if m["role"] == "user"), ""
    )


def seed_of(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")


def quoted(question: str, limit: int = 90) -> str:
    question = " ".join(question.split())
    if len(question) > limit:
        question = question[:limit].rsplit(" ", 1)[0] + "…"
    return f"“{question}”" if question else "your message"


def reply_text(body: dict[str, Any]) -> str:
    """A deterministic reply to the last user turn, in the format the prompt asks for."""
    question = last_user_text(body)
    rules = f"{texts(body.get('system'))} {question}".lower()
    seed = seed_of(question)
    points = [POINTS[(seed + i * 3) % len(POINTS)] for i in range(3)]
    if "json" in rules:
        return json_reply(question, points)
    if SINGLE_RE.search(rules):
        return single_word(f"{texts(body.get('system'))} {question}")
    main = _main(question, rules, points)
    found = markers(body, question)
    if not found:
        return main
    second = f"After the {found[0]} marker, the reply goes on: {points[1]}"
    return "\n\n".join([main, *found, second])


def json_reply(question: str, points: list[str]) -> str:
    # Nested on purpose: a stop sequence of "}" cuts at the inner object, as the API does.
    return json.dumps(
        {
            "simulated": True,
            "question": " ".join(question.split())[:200],
            "answer": {"summary": points[0], "confidence": "high"},
            "next_steps": points[1:],
        }
    )


def single_word(prompt: str) -> str:
    """The first option of a listed choice ("bug, feature or question") the prompt names."""
    for pattern in OPTIONS_RES:
        if found := pattern.search(prompt):
            return re.split(r",\s*|\s+or\s+", found.group(1))[0].strip()
    return "Simulated"


def _main(question: str, rules: str, points: list[str]) -> str:
    about = quoted(question)
    about += "" if re.search(r"[.?!]”$", about) else "."
    lines = re.search(r"\b(one|two|three|four|five|\d)[ -]line\b", rules)
    if re.search(r"\b(poem|haiku|verse|limerick|rhyme)\b", rules):
        count = 3 if "haiku" in rules else 4
        if lines:
            count = NUMBERS.get(lines.group(1)) or int(lines.group(1))
        subject = re.search(r"\b(?:about|on) ([\w' -]+?)(?:[.,;:!?]|$)", question)
        name = subject.group(1).strip() if subject else "your request"
        verse = [v.format(subject=name) for v in VERSES]
        return "\n".join(verse[: max(1, min(count, len(verse)))])
    opening = f"{LABEL} You asked {about}"
    instead = "A model would answer it here; in its place, two tips from the course:"
    if re.search(r"\b(one|single|1)[ -]sentence\b", rules):
        tip = points[0][0].lower() + points[0][1:]
        return (
            "This simulated sentence comes from fixed rules, because no model wrote it, "
            f"and its tip is this: {tip}"
        )
    if re.search(r"\b(one|single|1)[ -]paragraph\b|\bshort paragraph\b", rules):
        return f"{opening} {instead} {points[0]} {points[1]}"
    if re.search(
        r"\bnumbered\b|\bsteps?\b|\bstep[ -]by[ -]step\b|\bhow (do|can|should) i\b", rules
    ):
        listed = "\n".join(f"{n}. {step}" for n, step in enumerate(STEPS, start=1))
        return f"{opening} In place of a model's steps, these general ones:\n\n{listed}"
    if re.search(r"\bbullet(ed|s)?\b|\blist\b", rules):
        listed = "\n".join(f"- {point}" for point in points)
        return f"{opening} In place of a model's list, tips from the course:\n\n{listed}"
    return f"{opening}\n\n{instead} {points[0]} {points[1]}"


def markers(body: dict[str, Any], question: str) -> list[str]:
    """Separators the prompt asks for (a symbol run such as ###, or a stop sequence it quotes),
    written on their own line after the main answer, as a model following the prompt would."""
    found = MARKER_RE.findall(question)
    found += [s for s in body.get("stop_sequences") or [] if s.strip() and s in question]
    return list(dict.fromkeys(found))


def tool_result_text(body: dict[str, Any]) -> str | None:
    """A reply that uses the tool results in the last user turn, or None when there are none."""
    if not body["messages"]:
        return None
    last = body["messages"][-1]
    results = [
        b for b in blocks(last["content"]) if isinstance(b, dict) and b.get("type") == "tool_result"
    ]
    if last["role"] != "user" or not results:
        return None
    names = _tool_names(body)
    parts = []
    for result in results:
        name = names.get(result.get("tool_use_id"), "the tool")
        content = result.get("content")
        value = content if isinstance(content, str) else texts(content or [])
        value = quoted(value, 200) if value.strip() else "nothing"
        if result.get("is_error"):
            parts.append(f"The {name} tool reported an error: {value}.")
        else:
            parts.append(f"The {name} tool returned {value}.")
    return f"{LABEL} {' '.join(parts)} That is the answer to your question."


def _tool_names(body: dict[str, Any]) -> dict[str, str]:
    names = {}
    for message in body["messages"]:
        for block in blocks(message["content"]):
            if isinstance(block, dict) and block.get("type") == "tool_use":
                names[block.get("id")] = block.get("name", "the tool")
    return names


def thinking_text(body: dict[str, Any]) -> str:
    question = quoted(last_user_text(body))
    return (
        f"Simulated thinking: the request asks {question}. The simulator has no model, so this "
        "block only shows where thinking appears: first in the content, with a signature."
    )
