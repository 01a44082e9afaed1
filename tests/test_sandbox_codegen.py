"""'Get code': the Python and curl it writes run unchanged against the served simulator."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from course.sandbox import codegen
from course.sandbox.server import MessagesServer

LESSONS = Path(__file__).resolve().parent.parent / "lessons"
EXERCISE_ID_RE = re.compile(r"^```exercise\nid: ([a-z0-9-]+)$", re.M)
BODY = {
    "model": "claude-haiku-5-5",
    "max_tokens": 64,
    "system": [
        {"type": "text", "text": 'It\'s "quoted"\n', "cache_control": {"type": "ephemeral"}}
    ],
    "messages": [{"role": "user", "content": "Say hello"}],
}


def exercise_ids() -> list[tuple[str, str]]:
    """(lesson file, exercise id), read straight from the Markdown."""
    return [
        (path.name, ident)
        for path in sorted(LESSONS.glob("[0-9][0-9]-*.md"))
        for ident in EXERCISE_ID_RE.findall(path.read_text(encoding="utf-8"))
    ]


# Runs each snippet as its own __main__, in one interpreter: importing the SDK once for all of
# them keeps the test fast.
RUN_EACH = """
import contextlib, io, json, sys, traceback
import anthropic
results = {}
for name, source in json.load(sys.stdin).items():
    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out):
            exec(compile(source, name, "exec"), {"__name__": "__main__"})
        results[name] = {"stdout": out.getvalue(), "error": None}
    except BaseException:
        results[name] = {"stdout": out.getvalue(), "error": traceback.format_exc()}
json.dump(results, sys.stdout)
"""


@pytest.fixture(scope="module")
def solutions() -> dict[str, dict]:
    """Every exercise's reference solution, by exercise id."""
    from course.lessons import load_catalogue

    return {
        exercise.id: json.loads(exercise.solution)
        for lesson in load_catalogue().lessons
        for exercise in lesson.exercises
    }


@pytest.fixture(scope="module")
def python_runs(simulator_server, solutions) -> dict[str, dict]:
    """What each solution's Python snippet printed against the served simulator, or raised."""
    sources = {ident: codegen.python(body) for ident, body in solutions.items()}
    done = subprocess.run(
        [sys.executable, "-c", RUN_EACH],
        input=json.dumps(sources),
        env=environment(simulator_server.url),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.fixture(scope="module")
def simulator_server() -> Iterator[MessagesServer]:
    """What `make simulator` serves."""
    with MessagesServer() as server:
        yield server


def environment(base_url: str) -> dict[str, str]:
    return {**os.environ, "ANTHROPIC_API_KEY": "sk-ant-test", "ANTHROPIC_BASE_URL": base_url}


def run_python(source: str, server) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", source],
        env=environment(server.url),
        capture_output=True,
        text=True,
        timeout=60,
    )


def run_curl(command: str, server) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", "-c", command], env=environment(server.url), capture_output=True, text=True
    )


def shell_words(command: str, base_url: str | None = None) -> list[str]:
    """The words bash makes of `command`, without running it."""
    env = {"PATH": os.environ["PATH"]} | ({"ANTHROPIC_BASE_URL": base_url} if base_url else {})
    return subprocess.run(
        ["bash", "-c", 'eval "set -- $1"; for w; do printf "%s\\0" "$w"; done', "_", command],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split("\0")


@pytest.mark.parametrize("streamed", [False, True])
def test_the_python_sends_the_same_request_and_prints_the_reply(fake_anthropic, streamed):
    body = BODY | {"stream": True} if streamed else BODY
    source = codegen.python(body)
    assert "sk-ant" not in source and "ANTHROPIC_API_KEY" in source
    done = run_python(source, fake_anthropic)
    assert done.returncode == 0, done.stderr
    assert "end_turn" in done.stdout
    sent = fake_anthropic.requests[-1].body
    assert {key: sent[key] for key in BODY} == BODY
    assert sent.get("stream", False) is streamed


def test_parameters_the_sdk_does_not_take_still_reach_the_api(fake_anthropic):
    source = codegen.python(BODY | {"temperature": 0.5})
    assert "extra_body={" in source
    done = run_python(source, fake_anthropic)
    # The API (here the simulator, with the same rules) refuses it, as it would the learner's run.
    assert done.returncode != 0 and "temperature" in done.stderr


def test_a_body_field_the_sdk_would_send_as_a_header_stays_in_the_body(fake_anthropic):
    source = codegen.python(BODY | {"workspace_id": "wrkspc_01"})
    assert 'extra_body={\n        "workspace_id": "wrkspc_01",' in source
    done = run_python(source, fake_anthropic)
    assert fake_anthropic.requests[-1].body["workspace_id"] == "wrkspc_01"
    assert "anthropic-workspace-id" not in fake_anthropic.requests[-1].headers
    assert done.returncode != 0 and "workspace_id" in done.stderr  # not a body field


def test_the_curl_is_valid_shell_and_sends_the_body_as_json():
    command = codegen.curl(BODY)
    assert '--header "x-api-key: $ANTHROPIC_API_KEY"' in command
    subprocess.run(["bash", "-n"], input=command, text=True, check=True)
    words = shell_words(command)
    assert json.loads(words[words.index("--data") + 1]) == BODY


def test_the_curl_calls_the_api_unless_anthropic_base_url_says_otherwise():
    command = codegen.curl(BODY)
    assert shell_words(command)[1] == "https://api.anthropic.com/v1/messages"
    assert shell_words(command, "http://127.0.0.1:8790")[1] == "http://127.0.0.1:8790/v1/messages"


@pytest.mark.parametrize(("filename", "ident"), exercise_ids())
def test_every_exercise_solution_runs_unchanged_against_the_served_simulator(
    simulator_server, solutions, python_runs, filename, ident
):
    run = python_runs[ident]
    assert run["error"] is None, run["error"]
    *_, last = run["stdout"].splitlines()
    assert last.split(" ")[0] in {"end_turn", "max_tokens", "stop_sequence", "tool_use"}, last

    body = solutions[ident]
    done = run_curl(codegen.curl(body), simulator_server)
    assert done.returncode == 0, done.stderr
    if body.get("stream") is True:
        events = re.findall(r"^event: (\w+)$", done.stdout, re.M)
        assert events[0] == "message_start" and events[-1] == "message_stop", done.stdout
    else:
        message = json.loads(done.stdout)
        assert message["type"] == "message", message
