"""Follow a streaming reply through the tutor socket's frames, as the browser's htmx would.

The frames (tutor/streaming.py): a snapshot replaces the reply body, finished Markdown blocks are
appended to the `done` part, and the open block replaces the `open` part (tutor/markup.py names
them). Used by the benchmark and by the consumer tests to read what a learner would see.
"""

from __future__ import annotations

from html.parser import HTMLParser

from tutor import markup


class ShownReply(HTMLParser):
    """The text of the streaming reply a browser would show after the frames fed so far."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.done: list[str] = []
        self.open: list[str] = []
        self._parts: list[str | None] = []  # per open element: the part it belongs to
        self.snapshots = 0  # snapshots fed: each re-sends everything so far

    @property
    def text(self) -> str:
        return " ".join("".join(self.done + self.open).split())

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        named = markup.part_of(values.get("id") or "")
        part = named[1] if named else (self._parts[-1] if self._parts else None)
        swap = values.get("hx-swap-oob")
        if named and part == markup.TEXT and swap == "true":
            self.done, self.open = [], []  # a snapshot starts again
            self.snapshots += 1
        elif named and part == markup.OPEN and swap == "true":
            self.open = []
        self._parts.append(part)

    def handle_endtag(self, tag: str) -> None:
        if self._parts:
            self._parts.pop()

    def handle_data(self, data: str) -> None:
        part = self._parts[-1] if self._parts else None
        if part == markup.DONE:
            self.done.append(data)
        elif part == markup.OPEN:
            self.open.append(data)
