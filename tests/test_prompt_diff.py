from __future__ import annotations

from tutor.prompt_diff import prompt_diff, readable

PERSONA = {"type": "text", "text": "You are a tutor.\n"}
LESSON = {
    "type": "text",
    "text": "# Lesson\n\nOne.\nTwo.\n",
    "cache_control": {"type": "ephemeral"},
}


def test_equal_prompts_have_no_diff():
    diff = prompt_diff([PERSONA, LESSON], [PERSONA, LESSON])
    assert not diff.changed and diff.lines == () and diff.summary == "+0 lines, −0 lines"


def test_it_diffs_block_texts_line_by_line():
    edited = {**LESSON, "text": "# Lesson\n\nOne.\nTwo and a half.\nThree.\n"}
    diff = prompt_diff([PERSONA, LESSON], [PERSONA, edited])
    assert diff.summary == "+2 lines, −1 line"
    changes = [(line.kind, line.sign, line.text) for line in diff.lines if line.sign]
    assert changes == [
        ("removed", "-", "Two."),
        ("added", "+", "Two and a half."),
        ("added", "+", "Three."),
    ]
    assert diff.lines[0].kind == "hunk" and diff.lines[0].text.startswith("@@ ")


def test_a_moved_cache_breakpoint_shows_in_the_block_headers():
    moved = [{**PERSONA, "cache_control": {"type": "ephemeral"}}, {**LESSON}]
    del moved[1]["cache_control"]
    diff = prompt_diff([PERSONA, LESSON], moved)
    assert diff.added == 2 and diff.removed == 2
    assert any('"cache_control"' in line.text for line in diff.lines if line.kind == "added")


def test_a_trailing_newline_counts_as_a_change():
    assert readable([PERSONA]) != readable([{**PERSONA, "text": "You are a tutor."}])
    assert prompt_diff([PERSONA], [{**PERSONA, "text": "You are a tutor."}]).changed
