"""Lesson files for the tests: a valid lesson to vary, and a way to write one to disk."""

from __future__ import annotations

import textwrap
from pathlib import Path

VALID_LESSON = """\
---
title: Tiny lesson
slug: {slug}
order: {order}
summary: A lesson used by the tests.
minutes: 5
objectives:
  - Know the tiny thing
tutor:
  focus: The tiny thing.
  starters:
    - What is the tiny thing?
    - Why is it tiny?
    - Where does it live?
quiz:
  - question: Which is tiny?
    choices:
      a: The elephant
      b: The ant
    answer: b
    explanation: Ants are small.
  - question: Which is large?
    choices:
      a: The whale
      b: The flea
    answer: a
    explanation: Whales are big.
  - question: Which is neither?
    choices:
      a: A dog
      b: A mountain
    answer: a
    explanation: Dogs are medium.
facts_checked: 2026-11-26
sources:
  - title: Messages API
    url: https://platform.claude.com/docs/en/api/messages
---

## First section

Some text with a [link to the second section](#second-section).

## Second section

More text.
"""


def lesson_text(slug: str = "tiny", order: int = 1, **replace: str) -> str:
    text = VALID_LESSON.format(slug=slug, order=order)
    for old, new in replace.items():
        text = text.replace(old, new)
    return text


def write(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path
