"""The example markers and the runner itself: what check_lessons refuses, what the runner catches."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from course import example_runner
from course.lesson_format import LessonInvalid
from course.lessons import parse_lesson
from tests.fake_anthropic import FakeAnthropic
from tests.lesson_files import lesson_text

PATH = Path("lessons/99-tiny.md")
CALL = (
    "from anthropic import Anthropic\n"
    "client = Anthropic()\n"
    "reply = client.messages.create(model='{{ model.default.id }}', max_tokens=64,\n"
    "    messages=[{'role': 'user', 'content': 'hi'}])\n"
)


def lesson_with(*blocks: str):
    body = "\n\n".join(blocks)
    return parse_lesson(lesson_text(**{"More text.": body}), PATH)


def problems(*blocks: str) -> list[str]:
    with pytest.raises(LessonInvalid) as caught:
        lesson_with(*blocks)
    return [f"{p.line}: {p.message}" for p in caught.value.problems]


def fence_line(text: str, nth: int = 0) -> int:
    full = lesson_text(**{"More text.": text})
    lines = [n for n, line in enumerate(full.splitlines(), start=1) if line.startswith("```")]
    return lines[nth * 2]


def run_in_fake(lesson, example, **options):
    with FakeAnthropic() as fake:
        return example_runner.run(
            example, lesson.examples, api_key="sk-test", base_url=fake.url, **options
        )


def test_it_reads_the_markers_of_every_code_block():
    lesson = lesson_with(
        f"```python name=setup\n{CALL}```",
        "```python needs=setup\nprint(reply.stop_reason)\n```",
        "```python continues\nprint(reply.id)\n```",
        "```python fails=TypeError fake=refusal\nlen(3)\n```",
        '```bash norun="installs the SDK"\npip install anthropic\n```',
        '```json\n{"a": 1}\n```',
    )
    setup, needs, continues, fails, norun, data = lesson.examples
    assert (setup.kind, setup.name) == ("python", "setup")
    assert needs.needs == ("setup",)
    assert continues.needs == (needs.label,)
    assert (fails.fails, fails.fake) == ("TypeError", "refusal")
    assert (norun.kind, norun.norun) == ("", "installs the SDK")
    assert data.kind == ""
    assert "model='claude-haiku-5-5'" in setup.code


def test_check_lessons_refuses_blocks_that_are_neither_runnable_nor_marked():
    blocks = [
        "```bash\npip install anthropic\n```",
        "```typescript\nconst a = 1;\n```",
        "```\nno language\n```",
    ]
    text = "\n\n".join(blocks)
    assert problems(*blocks) == [
        f"{fence_line(text, 0)}: a shell block without a curl command cannot be run: "
        'mark it norun="<the reason>"',
        f'{fence_line(text, 1)}: a typescript block cannot be run: mark it norun="<the reason>"',
        f"{fence_line(text, 2)}: give the code block a language (python, bash, json, text...)",
    ]


@pytest.mark.parametrize(
    ("info", "message"),
    [
        ("python flaky", "unknown marker 'flaky'"),
        ("python fails=", "marker 'fails' needs a value: fails=..."),
        ("python needs=nowhere", "needs=nowhere: no runnable block above has that name"),
        ("python continues", "'continues' but there is no runnable block before this one"),
        ("python fake=earthquake", "unknown fake scenario 'earthquake'"),
        ('python norun="why" fails=TypeError', "a norun block cannot also have fails"),
        ("json fails=ValueError", "a json block is data and is never run: it takes no markers"),
        ("bash fails=TypeError", "a curl block fails with an HTTP status: fails=400"),
        ('python norun="unclosed', "cannot read the markers"),
    ],
)
def test_check_lessons_explains_a_bad_marker(info, message):
    code = "curl https://api.anthropic.com/v1/messages\n" if info.startswith("bash") else "x = 1\n"
    block = f"```{info}\n{code}```"
    (found,) = problems(block)
    assert found.startswith(f"{fence_line(block)}: {message}")


def test_check_lessons_reports_a_python_syntax_error_at_its_line():
    block = "```python\nx = 1\ny = (\n```"
    (found,) = problems(block)
    assert (
        found
        == f"{fence_line(block)}: Python syntax error at line {fence_line(block) + 2}: "
        + ("'(' was never closed")
    )


def test_a_block_cannot_continue_one_that_is_meant_to_fail():
    blocks = ["```python name=bad fails=ZeroDivisionError\n1 / 0\n```", "```python needs=bad\n```"]
    assert problems(*blocks)[0].endswith(
        "needs=bad: that block is meant to fail, so nothing can follow it"
    )


def test_the_runner_runs_a_block_after_the_one_it_needs():
    lesson = lesson_with(
        f"```python name=setup\n{CALL}```", "```python needs=setup\nprint(reply.stop_reason)\n```"
    )
    outcome = run_in_fake(lesson, lesson.examples[1])
    assert outcome.ok, outcome.detail
    assert outcome.output.strip() == "end_turn"


def test_the_runner_reports_an_error_with_the_lesson_line():
    lesson = lesson_with("```python\nprint('before')\nundefined_name\n```")
    outcome = run_in_fake(lesson, lesson.examples[0])
    assert not outcome.ok
    assert f'lessons/99-tiny.md", line {lesson.examples[0].line + 1}' in outcome.detail
    assert "NameError: name 'undefined_name' is not defined" in outcome.detail
    assert outcome.output.strip() == "before"


def test_a_block_marked_to_fail_must_fail_with_exactly_that_exception():
    lesson = lesson_with(
        "```python fails=TypeError\nlen(3)\n```",
        "```python fails=TypeError\nx = 1\n```",
        "```python fails=LookupError\n{}['missing']\n```",
        f"```python fails=anthropic.AuthenticationError\n{CALL}```",
    )
    right, silent, parent, sdk = (run_in_fake(lesson, e) for e in lesson.examples)
    assert right.ok and right.detail == "raised TypeError as marked"
    assert not silent.ok and silent.detail == "marked fails=TypeError but ran without an error"
    assert not parent.ok and "but raised KeyError" in parent.detail
    assert not sdk.ok and "but ran without an error" in sdk.detail


def test_the_runner_stops_a_block_that_hangs():
    lesson = lesson_with("```python\nimport time\ntime.sleep(60)\n```")
    outcome = run_in_fake(lesson, lesson.examples[0], timeout=1)
    assert not outcome.ok
    assert outcome.detail == "did not finish within 1 s"


def test_a_curl_block_fails_on_an_http_error_unless_marked():
    request = (
        "curl https://api.anthropic.com/v1/messages -H 'x-api-key: x' "
        "-H 'anthropic-version: 2026-10-21' -H 'content-type: application/json' "
        '-d \'{"model": "m", "messages": []}\'\n'
    )
    lesson = lesson_with(f"```bash\n{request}```", f"```bash fails=400\n{request}```")
    unmarked, marked = (run_in_fake(lesson, e) for e in lesson.examples)
    assert not unmarked.ok and unmarked.detail == "HTTP error status: [400]"
    assert "max_tokens: Field required" in unmarked.output
    assert marked.ok and marked.detail == "HTTP 400 as marked"


def test_verify_lessons_needs_a_key(monkeypatch):
    from django.core.management import CommandError, call_command

    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    with pytest.raises(CommandError, match="needs a key: set ANTHROPIC_API_KEY"):
        call_command("verify_lessons")


def test_verify_lessons_runs_every_example_of_a_lesson(monkeypatch, capsys):
    from django.core.management import call_command

    with FakeAnthropic() as fake:
        monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-test")
        monkeypatch.setenv("ANTHROPIC_BASE_URL", fake.url)
        call_command("verify_lessons", "streaming-and-errors", "--timeout", "20")
    out = capsys.readouterr().out
    assert re.search(r"^ok   04-streaming-and-errors\.md:\d+ curl", out, re.MULTILINE)
    assert out.count("ok   04-streaming-and-errors.md:") >= 8
    assert "Every example ran against the live API." in out


def test_data_blocks_may_carry_words_for_other_tools():
    lesson = lesson_with("```exercise id=first-call\nprompt: Call {{ model.default.id }}\n```")
    (block,) = lesson.examples
    assert block.kind == "" and block.lang == "exercise"
    assert "prompt: Call claude-haiku-5-5" in block.code
