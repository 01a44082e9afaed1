"""A tutor reply as HTML while it streams, at a cost per delta that does not grow with the reply.

The reply is cut into Markdown blocks at blank lines (never inside a code fence). A finished
block is rendered and sanitized once and appended; only the open block, the one text is still
arriving in, is rendered again on each delta and replaces itself. So headings, lists, tables and
code appear formatted as they arrive, and the finished reply is the same blocks rendered the same
way (`render_reply`): nothing reflows when it ends.

The writer renders each frame once and every socket following the reply forwards it (see
tutor/generation.py). The open block is re-rendered on every frame, so the two commonest open
blocks skip the Markdown parser: a paragraph of plain prose is escaped directly (exactly what the
parser would produce), and a code block still being written is shown escaped, highlighted once it
closes.
"""

from __future__ import annotations

import re
from html import escape

from course.markdown import render_untrusted
from tutor import markup

_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")


def cut_blocks(text: str) -> tuple[list[str], str]:
    """Split `text` (which starts at a block boundary) into finished blocks and the open rest."""
    blocks: list[str] = []
    start = position = 0
    fence = ""
    for line in text.splitlines(keepends=True):
        position += len(line)
        if not line.endswith("\n"):
            break  # a line still being written decides nothing yet
        marker = _FENCE.match(line)
        if fence:
            if marker and _closes(marker.group(1), fence, line):
                fence = ""
        elif marker:
            fence = marker.group(1)
        elif not line.strip():
            blocks.append(text[start:position])
            start = position
    return blocks, text[start:]


def _closes(marker: str, fence: str, line: str) -> bool:
    # CommonMark: the same character, at least as long, and nothing else on the line.
    return marker[0] == fence[0] and len(marker) >= len(fence) and not line.strip().strip(marker[0])


def _render(block: str) -> str:
    # No newline after the block's last tag: the open block's text only ever grows at its end.
    return render_untrusted(block).rstrip("\n") if block.strip() else ""


# A line of prose that Markdown leaves as it is: it starts with a letter and holds no character
# that could open emphasis, code, HTML, an entity or an escape; an underscore inside a word
# (stop_reason) is not emphasis in CommonMark, so it may stay. Square brackets stay text unless
# they make an inline link or image (`](`, `![`): a block that starts with a letter holds no link
# reference definition.
_PROSE_LINE = re.compile(
    r"[^\W\d_](?:[^\W_]|[ ,.;:?!'\"()/%$@=+\-–—…‘’“”\[\]]|(?<=[^\W_])_+(?=[^\W_]))*"
)
_CODE_INFO = re.compile(r"[\w+#.-]*")


def _render_open(block: str) -> str:
    """The open block as the finished block will render it, skipping the parser when it can."""
    lines = block.rstrip("\n").split("\n")
    if (
        all(_PROSE_LINE.fullmatch(line) for line in lines)
        and "](" not in block
        and "![" not in block
        and not any(line.endswith("  ") for line in lines[:-1])  # a hard break
    ):
        prose = "\n".join(line.rstrip(" ") for line in lines)
        return f"<p>{prose}</p>" if prose else ""
    fence = _FENCE.match(block)
    if fence and "\n" in block:
        info, code = block.split("\n", 1)
        language = info.strip()[len(fence.group(1)) :].strip()
        if _CODE_INFO.fullmatch(language) and not _closed(code, fence.group(1)):
            css = f' class="language-{language}"' if language else ""
            indent = len(info) - len(info.lstrip(" "))
            if indent == 0:
                return f'<pre tabindex="0"><code{css}>{escape(code, quote=False)}</code></pre>'
    return _render(block)


def _closed(code: str, fence: str) -> bool:
    return any(
        (marker := _FENCE.match(line)) and _closes(marker.group(1), fence, line)
        for line in code.splitlines(keepends=True)
    )


def render_reply(text: str) -> str:
    """A finished reply: exactly the blocks the stream showed, rendered the same way."""
    blocks, rest = cut_blocks(text)
    return "".join(_render(block) for block in [*blocks, rest])


class ReplyStream:
    """What has been shown of one streaming reply, and the frames that extend it.

    The frames' few wrapper elements are written here rather than in a template: this runs once
    per frame of every reply, and a template render would cost more than the rest of the frame.
    `tutor/_message.html` draws a streaming reply's body with `body` too, so there is one copy.
    """

    def __init__(self, message_id: int) -> None:
        self.message_id = message_id
        self.open = ""  # the open block's Markdown
        self.rendered_chars = 0  # Markdown rendered by the last call: the cost of a delta
        self._done_id = markup.part_id(message_id, markup.DONE)
        self._open_id = markup.part_id(message_id, markup.OPEN)

    def _advance(self, text: str) -> tuple[str, str]:
        finished, self.open = cut_blocks(self.open + text)
        self.rendered_chars = sum(map(len, finished)) + len(self.open)
        return "".join(map(_render, finished)), _render_open(self.open)

    def feed(self, text: str) -> str:
        done, open_html = self._advance(text)
        frame = f'<div id="{self._done_id}" hx-swap-oob="beforeend">{done}</div>' if done else ""
        return frame + self._open_element(open_html, oob=True)

    def snapshot(self, text: str) -> str:
        """Everything so far, replacing what the socket showed (on joining or after a gap)."""
        return self.body(text, oob=True)

    def body(self, text: str, oob: bool = False) -> str:
        """The reply's body showing `text`: its finished blocks, then the open one."""
        self.open = ""
        done, open_html = self._advance(text)
        swap = ' hx-swap-oob="true"' if oob else ""
        text_id = markup.part_id(self.message_id, markup.TEXT)
        return (
            f'<div id="{text_id}" class="msg-body prose"{swap}>'
            f'<div id="{self._done_id}" class="msg-flow">{done}</div>'
            f"{self._open_element(open_html)}</div>"
        )

    def _open_element(self, html: str, oob: bool = False) -> str:
        swap = ' hx-swap-oob="true"' if oob else ""
        return f'<div id="{self._open_id}" class="msg-flow"{swap}>{html}</div>'
