"""Follow a streaming reply through the tutor socket's frames, as the browser's htmx would.

The frames (tutor/streaming.py): a snapshot replaces the reply body, finished Markdown blocks are
appended to `msg-N-done`, and the open block replaces `msg-N-open`. Used by the benchmark and by
the consumer tests to read what a learner would see.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

_PART = re.compile(r"^msg-\d+-(text|done|open)$")


class ShownReply(HTMLParser):
    """The text of the streaming reply a browser would show after the frames fed so far."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.done: list[str] = []
        self.open: list[str] = []
        self._parts: list[str | None] = []  # per open element: the part it belongs to

    @property
    def text(self) -> str:
        return " ".join("".join(self.done + self.open).split())

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        match = _PART.match(values.get("id") or "")
        part = match.group(1) if match else (self._parts[-1] if self._parts else None)
        swap = values.get("hx-swap-oob")
        if match and part == "text" and swap == "true":
            self.done, self.open = [], []  # a snapshot starts again
        elif match and part == "open" and swap == "true":
            self.open = []
        self._parts.append(part)

    def handle_endtag(self, tag: str) -> None:
        if self._parts:
            self._parts.pop()

    def handle_data(self, data: str) -> None:
        part = self._parts[-1] if self._parts else None
        if part == "done":
            self.done.append(data)
        elif part == "open":
            self.open.append(data)
