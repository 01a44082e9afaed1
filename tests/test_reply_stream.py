"""A reply's Markdown rendered while it streams (tutor/streaming.py)."""

from __future__ import annotations

import random
from html.parser import HTMLParser

import pytest

from tutor import markup
from tutor.streaming import ReplyStream, _render, _render_open, cut_blocks, render_reply

OPEN = f'<div id="{markup.part_id(1, markup.OPEN)}" class="msg-flow" hx-swap-oob="true">'
DONE = f'<div id="{markup.part_id(1, markup.DONE)}" hx-swap-oob="beforeend">'

REPLIES = [
    "## Heading\n\nSome **bold** text and `code`.\n\n- one\n- two\n\n1. first\n2. second\n",
    "```python\nx = 1\n\n\ny = 2\n```\n\nAfter the code.\n\n| a | b |\n|---|---|\n| 1 | 2 |\n",
    "~~~\nnot closed by ```\n~~~\n\n> quoted\n\n    indented\n\n    code\n\nend",
    "Plain words " * 50,
]


def stream(text: str, seed: int = 0) -> tuple[list[str], ReplyStream]:
    """Feed `text` in random small pieces, as deltas arrive; return the frames sent."""
    rng = random.Random(seed)
    reply, frames, position = ReplyStream(1), [], 0
    while position < len(text):
        size = rng.randint(1, 9)
        frames.append(reply.feed(text[position : position + size]))
        position += size
    return frames, reply


def shown_html(frames: list[str]) -> str:
    """Apply the frames as htmx does: append finished blocks, replace the open one."""
    done, open_block = "", ""
    for frame in frames:
        head, _, tail = frame.partition(OPEN)
        assert tail.endswith("</div>"), frame
        open_block = tail.removesuffix("</div>")
        if head:
            assert head.startswith(DONE) and head.endswith("</div>"), frame
            done += head.removeprefix(DONE).removesuffix("</div>")
    return done + open_block


@pytest.mark.parametrize("text", REPLIES)
def test_the_streamed_reply_ends_exactly_as_the_finished_one_renders(text):
    for seed in range(5):
        frames, _ = stream(text, seed)
        assert shown_html(frames) == render_reply(text)


def test_lists_and_code_are_formatted_before_their_block_ends():
    reply = ReplyStream(1)
    frame = reply.feed("Try this:\n\n```python\nprint('hi')\n")
    assert "<p>Try this:</p>" in frame
    # An open code block shows as code at once, highlighted when it closes.
    assert '<pre tabindex="0"><code class="language-python">print(\'hi\')\n</code></pre>' in frame
    assert "```" not in frame
    frame = reply.feed("```\n\n- one\n- tw")
    assert frame.startswith(DONE) and "<pre" in frame
    assert "<ul>\n<li>one</li>\n<li>tw</li>\n</ul></div>" in frame and "- one" not in frame


def test_the_open_block_shortcuts_render_exactly_what_markdown_renders():
    # Prose and open code blocks skip the Markdown parser; nothing else may change.
    rng = random.Random(7)
    alphabet = [*"abcXYZé ,.;:?!'\"()/%$@=+-–—…‘’“”0123*_`<&#[]\t\u00a0~|>", "\n", "  \n", "1. "]
    alphabet += ["](", "[x]", "[[fake a=1]]", "![", "[y]: /z", "\\", "stop_reason", "a__b", "_x_"]
    shortcuts = 0
    for _ in range(20_000):
        block = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40)))
        block = block.replace("\n\n", "\n")
        assert _render_open(block) == _render(block), block
        shortcuts += not any(c in block for c in "*_`<&#[]")
    assert shortcuts > 1000
    for fence in ["```\nplain <b> & x\n", "~~~~ zzz\ncode ```\nmore\n", "   ```\nx\n"]:
        assert _render_open(fence) == _render(fence)


def test_a_blank_line_inside_a_code_fence_does_not_end_the_block():
    blocks, rest = cut_blocks("```\na\n\nb\n```\n\nnext")
    assert blocks == ["```\na\n\nb\n```\n\n"] and rest == "next"
    blocks, rest = cut_blocks("````\n```\n\nstill code\n````\n")
    assert blocks == [] and rest.endswith("````\n")


def test_the_cost_of_a_delta_does_not_grow_with_the_length_of_the_reply():
    paragraph = "A sentence about tokens and caching that runs on a while. " * 4 + "\n\n"
    costs = {}
    for paragraphs in (10, 400):
        text = "## Title\n\n" + paragraph * paragraphs + "```python\nx = 1\n```\n"
        reply, costs[paragraphs] = ReplyStream(1), []
        for start in range(0, len(text), 6):
            reply.feed(text[start : start + 6])
            costs[paragraphs].append(reply.rendered_chars)
    # Markdown rendered per delta: at most the open block plus the delta, however long the reply.
    assert max(costs[400]) == max(costs[10]) <= len(paragraph) + 6
    assert len(costs[400]) > 30 * len(costs[10])


PAYLOADS = "\n\n".join(
    [
        "Here is some HTML:",
        '<img src=x onerror="window.__pwned=1">',
        '<div hx-on:htmx:load="window.__pwned=2" id="tutor-form">x</div>',
        '<button hx-get="/admin/" hx-trigger="load">b</button>',
        "<script>window.__pwned=3</script>",
        "[click](javascript:window.__pwned=4)",
        '<span id="tutor-log" hx-swap-oob="true">wiped</span>',
        "**<a href='x' onclick='y'>z</a>** `<script>` ```\n<script>alert(1)</script>\n```",
        "The end.",
    ]
)


class _Markup(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict]] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        self.tags.append((tag, dict(attrs)))


def _reply_part(element_id: str) -> bool:
    return (markup.part_of(element_id) or (None, ""))[0] == 1


@pytest.mark.parametrize("seed", range(8))
def test_xss_payloads_streamed_in_pieces_stay_inert(seed):
    frames, _ = stream(PAYLOADS, seed)
    for frame in frames:
        parsed = _Markup()
        parsed.feed(frame)
        for tag, attrs in parsed.tags:
            assert tag not in {"script", "img", "iframe", "button", "form", "style"}, frame
            for name, value in attrs.items():
                assert not name.startswith("on"), frame
                # Only the stream's own wrappers swap: never an element the model named.
                if name.startswith("hx-"):
                    assert name == "hx-swap-oob" and _reply_part(attrs["id"]), frame
                assert name != "id" or _reply_part(value), frame
                assert not (value or "").lower().startswith("javascript:"), frame
