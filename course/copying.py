"""Runs of words a lesson repeats from a reference text, such as the course's fact sheet.

The lessons take their facts from the sheet but say them in the course's own words. A run of
`RUN` words or more found in both is reported with its line. Code blocks and quotations in the
body are left out (an exercise's task and messages count as prose): a wire-format example or an
error message is copied on purpose.
"""

from __future__ import annotations

import re

RUN = 12
WORD_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.'’-]*")
FENCE_RE = re.compile(r"^(```|~~~)[^\n]*\n.*?^\1[^\n]*$", re.M | re.S)
# A quotation may wrap onto a second line of the Markdown source.
QUOTE_RE = re.compile(r'"[^"\n]*(?:\n[^"\n]*)?"|“[^”\n]*(?:\n[^”\n]*)?”')


def _blank(match: re.Match[str]) -> str:
    """The same number of lines, without the words: line numbers stay true."""
    return re.sub(r"[^\n]", " ", match.group(0))


def _words(text: str) -> list[tuple[str, int]]:
    return [(m.group(0).lower().strip(".'’-"), m.start()) for m in WORD_RE.finditer(text)]


def _code(match: re.Match[str]) -> str:
    """A code block blanked; an exercise block kept, since its task and messages are prose."""
    if match.group(0)[3:].lstrip().startswith("exercise"):
        return match.group(0)
    return _blank(match)


def _prose(text: str) -> str:
    """The lesson without its code blocks, and without quotations after the front matter."""
    text = FENCE_RE.sub(_code, text)
    parts = text.split("\n---\n", 1)  # the front matter's YAML quotes its values: keep those
    if len(parts) == 2:
        return parts[0] + "\n---\n" + QUOTE_RE.sub(_blank, parts[1])
    return QUOTE_RE.sub(_blank, text)


def copied_runs(text: str, reference: str, run: int = RUN) -> list[tuple[int, str]]:
    """(line, words) for each run of `run` or more words of `text` that `reference` also has."""
    known = [word for word, _ in _words(reference)]
    grams = {tuple(known[i : i + run]) for i in range(len(known) - run + 1)}
    prose = _prose(text)
    words = _words(prose)
    found: list[list[int]] = []
    for start in range(len(words) - run + 1):
        if tuple(word for word, _ in words[start : start + run]) in grams:
            if found and start <= found[-1][1]:
                found[-1][1] = start + run
            else:
                found.append([start, start + run])
    return [
        (prose[: words[first][1]].count("\n") + 1, " ".join(w for w, _ in words[first:end]))
        for first, end in found
    ]
