"""Token estimates and ids: the simulator's one token rule, documented to learners."""

from __future__ import annotations

import math
import re
import secrets
import string

# The one estimate: about four characters per token. Anthropic's course says about 3.5 for
# English and newer tokenizers give about 30% more tokens, so every figure here is approximate.
# (A later issue unifies estimates site-wide.)
CHARS_PER_TOKEN = 4
_ALPHABET = string.ascii_letters + string.digits
_WORD = re.compile(r"\s*\S+")


def estimate_tokens(text: str) -> int:
    return max(1, math.ceil(len(text) / CHARS_PER_TOKEN))


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
