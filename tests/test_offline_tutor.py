from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

from course.lessons import Lesson, load_catalogue, parse_lesson
from tests.lesson_files import lesson_text
from tutor import offline
from tutor.offline import LABEL, answer, chunks


def real_lesson(slug: str = "system-prompts-and-caching") -> Lesson:
    lesson = load_catalogue().get(slug)
    assert lesson is not None
    return lesson


def tiny_lesson(body: str) -> Lesson:
    front_matter = lesson_text().partition("\n## ")[0]
    return parse_lesson(f"{front_matter}\n{textwrap.dedent(body)}", Path("x.md"))


def headings(reply: str) -> list[str]:
    return [line.removeprefix("### ") for line in reply.splitlines() if line.startswith("### ")]


def anchors(reply: str) -> list[str]:
    return re.findall(r"\]\(#([^)]+)\)", reply)


def test_it_finds_the_section_about_prompt_caching_minimums():
    reply = answer(real_lesson(), "What is the minimum length for prompt caching?")
    assert headings(reply)[0] == "Minimum cacheable length"
    assert "512 tokens on\nClaude Haiku 5.5, for example" in reply
    assert "[Read “Minimum cacheable length” in the lesson](#minimum-cacheable-length)" in reply


def test_it_finds_the_stop_reason_section_for_a_refusal():
    reply = answer(real_lesson("messages-api"), "What does a refusal stop_reason mean?")
    assert headings(reply)[0] == "Handling every stop reason"
    assert "Anthropic's safety classifiers intervened" in reply


def test_it_finds_a_section_whose_heading_spells_an_identifier_as_words():
    reply = answer(real_lesson("models-tokens-and-sampling"), "max_tokens")
    assert headings(reply)[0] == "Context window and max tokens"


def test_it_matches_max_tokens_as_one_identifier():
    lesson = tiny_lesson("""\
        ## Sizes

        The max size of a request is large, and tokens are small. The max is the max.
        Tokens, tokens, tokens: count the tokens before you hit the max.

        ## Limits

        Set `max_tokens` to cap the reply.
        """)
    assert headings(answer(lesson, "What should max_tokens be?", limit=2)) == ["Limits", "Sizes"]


def test_it_matches_hyphenated_identifiers_as_one_word():
    lesson = tiny_lesson("""\
        ## Waiting

        After a failed call, retry after a while; after a retry, retry again after that.

        ## Headers

        Read `retry-after` before you try again.
        """)
    assert headings(answer(lesson, "retry-after"))[0] == "Headers"


def test_it_treats_plurals_and_verb_forms_as_the_same_word():
    lesson = tiny_lesson("""\
        ## Storage

        The API caches prompts and streamed replies.

        ## Other

        Nothing to see here.
        """)
    assert headings(answer(lesson, "caching a stream")) == ["Storage"]


def test_a_matching_heading_outranks_passing_mentions():
    lesson = tiny_lesson("""\
        ## Notes

        A batch is slower; a batch is cheaper.

        ## Batches

        Send many requests in one go.
        """)
    assert headings(answer(lesson, "batches", limit=2)) == ["Batches", "Notes"]


@pytest.mark.parametrize(
    "question",
    ["What is the minimum length for prompt caching?", "capital of France", "", "   ", "the"],
)
def test_the_offline_label_is_always_the_first_line(question):
    reply = answer(real_lesson(), question)
    assert reply.splitlines()[0] == LABEL
    assert LABEL.startswith("**Offline tutor**") and "no API key" in LABEL


@pytest.mark.parametrize(
    "slug",
    [
        "messages-api",
        "system-prompts-and-caching",
        "models-tokens-and-sampling",
        "streaming-and-errors",
    ],
)
def test_links_use_the_anchors_of_the_page(slug):
    lesson = real_lesson(slug)
    questions = [*lesson.tutor.starters, lesson.tutor.focus, "zzz"]
    for question in questions:
        reply = answer(lesson, question)
        assert anchors(reply), question
        assert set(anchors(reply)) <= lesson.anchors, question


@pytest.mark.parametrize(
    "slug",
    [
        "messages-api",
        "system-prompts-and-caching",
        "models-tokens-and-sampling",
        "streaming-and-errors",
    ],
)
def test_it_never_cuts_a_code_block_in_half(slug):
    lesson = real_lesson(slug)
    questions = [heading.text for heading in lesson.toc] + ["python client messages create"]
    for question in questions:
        reply = answer(lesson, question, limit=3)
        fences = [line for line in reply.splitlines() if line.lstrip().startswith("```")]
        assert len(fences) % 2 == 0, question


def test_it_cuts_a_long_code_block_inside_its_fence_and_ignores_hashes_inside_it():
    code = "\n".join(f"    print('line {n}')  # spam eggs ham" for n in range(60))
    lesson = tiny_lesson(f"""\
## Example

Here is the program:

```python
## not a heading
def main():
{code}
```

## Other

Unrelated words.
""")
    reply = answer(lesson, "where is the main function with spam?")
    assert headings(reply) == ["Example"]
    assert "## not a heading" in reply and code.splitlines()[0] in reply
    assert code not in reply and "…\n```\n" in reply  # cut short, still a closed code block
    assert len(reply) < 1500
    assert reply.count("```") == 2


def test_it_trims_a_long_section_on_paragraph_boundaries():
    paragraphs = [f"Paragraph {n} talks about caching. " + "filler " * 50 for n in range(6)]
    lesson = tiny_lesson("## Long\n\n" + "\n\n".join(paragraphs) + "\n\n## Short\n\nNothing.\n")
    reply = answer(lesson, "caching")
    passage = reply.split("### Long\n\n")[1].split("\n\n[Read")[0]
    quoted = [part for part in passage.split("\n\n") if part != "…"]
    assert quoted and all(part in paragraphs for part in quoted)
    assert sum(len(part.split()) for part in quoted) <= 180
    assert passage.endswith("…")


def test_it_says_the_lesson_does_not_cover_an_unrelated_question():
    lesson = real_lesson()
    reply = answer(lesson, "What is the capital of France?")
    assert "“System prompts and prompt caching” doesn't seem to cover that" in reply
    assert headings(reply) == []
    assert anchors(reply) == [h.anchor for h in lesson.toc if h.level == 2]
    assert "- [Minimum cacheable length]" not in reply  # only the ## sections


@pytest.mark.parametrize("question", ["", "   \n\t", "what is it?"])
def test_it_handles_an_empty_or_stopword_question(question):
    lesson = real_lesson()
    reply = answer(lesson, question)
    assert headings(reply) == []
    assert anchors(reply) == [h.anchor for h in lesson.toc if h.level == 2]
    lead = "Ask about anything in this lesson" if not question.strip() else "doesn't seem to cover"
    assert lead in reply


def test_the_preamble_is_a_section_named_after_the_lesson():
    lesson = tiny_lesson("""\
        Ants carry leaves home.

        ## Elsewhere

        Whales sing.
        """)
    reply = answer(lesson, "what do ants carry?")
    assert headings(reply) == ["Tiny lesson"]
    assert "Ants carry leaves home." in reply
    assert anchors(reply) == []  # the preamble has no heading to link to


def test_headings_with_the_same_text_link_to_their_own_anchors():
    lesson = tiny_lesson("""\
        ## Setup

        Install the ant farm.

        ### Details

        ## Setup

        Feed the whale.
        """)
    assert anchors(answer(lesson, "whale")) == [lesson.toc[2].anchor]
    assert lesson.toc[2].anchor != lesson.toc[0].anchor


def test_ties_keep_lesson_order_and_the_limit_holds():
    lesson = tiny_lesson("""\
        ## One

        Alpha beta.

        ## Two

        Alpha beta.

        ## Three

        Alpha beta.
        """)
    assert headings(answer(lesson, "alpha", limit=2)) == ["One", "Two"]
    assert headings(answer(lesson, "alpha")) == ["One"]  # one passage by default
    assert headings(answer(lesson, "alpha", limit=3)) == ["One", "Two", "Three"]
    assert headings(answer(lesson, "alpha", limit=1)) == ["One"]


def test_it_is_deterministic():
    question = "Why is my cache_read_input_tokens always 0?"
    first = answer(real_lesson(), question)
    offline._index.cache_clear()
    assert answer(real_lesson(), question) == first
    assert answer(real_lesson(), question) == first


def test_it_builds_the_index_once_per_lesson_version():
    lesson = real_lesson()
    answer(lesson, "caching")
    built = offline._index.cache_info().misses
    answer(real_lesson(), "lifetimes")  # a fresh parse of the same text
    assert offline._index.cache_info().misses == built
    edited = tiny_lesson("## Only\n\nSomething new about caching.\n")
    assert headings(answer(edited, "caching")) == ["Only"]
    assert offline._index.cache_info().misses == built + 1


def test_chunks_round_trip_exactly():
    reply = answer(real_lesson(), "How much does a 1-hour cache write cost?")
    pieces = chunks(reply)
    assert "".join(pieces) == reply
    assert len(pieces) > 100
    assert all(len(piece.split()) <= 1 for piece in pieces)


@pytest.mark.parametrize(
    "text", ["", " ", "  leading", "trailing \n\n", "a\tb\r\nc …", "\n\n```\nx\n```\n"]
)
def test_chunks_round_trip_edge_cases(text):
    assert "".join(chunks(text)) == text
