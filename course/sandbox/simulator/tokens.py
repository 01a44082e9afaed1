"""Ids and output words for the simulator (input tokens: `model_catalogue.estimate_tokens`)."""

from __future__ import annotations

import re
import secrets
import string

_ALPHABET = string.ascii_letters + string.digits
_WORD = re.compile(r"\s*\S+")


def new_id(prefix: str) -> str:
    return prefix + "".join(secrets.choice(_ALPHABET) for _ in range(24))


def words(text: str) -> list[str]:
    """A reply's output tokens: each word with the whitespace before it.

    Trailing whitespace rides on the last piece, so the pieces always join back to `text`
    (the stream and the final message carry the same text).
    """
    pieces = _WORD.findall(text)
    rest = text[sum(map(len, pieces)) :]
    if rest:
        pieces = [*pieces[:-1], pieces[-1] + rest] if pieces else [rest]
    return pieces
