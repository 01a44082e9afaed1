"""'Get code': the Python it writes runs with the real SDK (against the fake API); curl parses."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from course.sandbox import codegen

BODY = {
    "model": "claude-haiku-5-5",
    "max_tokens": 64,
    "system": [
        {"type": "text", "text": 'It\'s "quoted"\n', "cache_control": {"type": "ephemeral"}}
    ],
    "messages": [{"role": "user", "content": "Say hello"}],
}


def run_python(source: str, fake_anthropic) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "ANTHROPIC_API_KEY": "sk-ant-test",
        "ANTHROPIC_BASE_URL": fake_anthropic.url,
    }
    return subprocess.run(
        [sys.executable, "-c", source], env=env, capture_output=True, text=True, timeout=60
    )


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
    # The API (here its fake, with the same rules) refuses it, as it would the learner's run.
    assert done.returncode != 0 and "temperature" in done.stderr


def test_the_curl_is_valid_shell_and_sends_the_body_as_json():
    command = codegen.curl(BODY)
    assert '--header "x-api-key: $ANTHROPIC_API_KEY"' in command
    subprocess.run(["bash", "-n"], input=command, text=True, check=True)
    # Let the shell parse it, then read back the --data argument.
    words = subprocess.run(
        ["bash", "-c", 'eval "set -- $1"; for w; do printf "%s\\0" "$w"; done', "_", command],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split("\0")
    assert json.loads(words[words.index("--data") + 1]) == BODY
