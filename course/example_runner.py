"""Run the lessons' code examples the way a learner would, and say which ones broke.

Python blocks run in their own process, forked from a warm worker (`python -m
course.example_runner`) that has already imported the SDK (importing it takes seconds; forking
takes milliseconds), each bounded in time, with
ANTHROPIC_API_KEY (and ANTHROPIC_BASE_URL, for the local fake) in the environment and the lesson
files (lessons/files/) in the working directory. Curl blocks run under bash with the same
environment; the API's address in them is pointed at the fake when there is one.

The tests run every block against the local fake API (tests/test_lesson_examples.py);
`manage.py verify_lessons` (`make verify-lessons`) runs them against the real one.
"""

from __future__ import annotations

import atexit
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from course.examples import Example

API_URL = "https://api.anthropic.com"
TIMEOUT = 30  # seconds per block: the fake answers at once; the real API can take a while
_STATUS_RE = re.compile(r"\[example-runner http (\d{3})\]")
# Each curl call reports its HTTP status on a line of its own, so a 400 cannot pass unnoticed.
_CURL_PRELUDE = (
    "set -euo pipefail\n"
    "curl() { command curl --silent --show-error "
    "--write-out '\\n[example-runner http %{http_code}]\\n' \"$@\"; }\n"
)


@dataclass(frozen=True)
class Outcome:
    example: Example
    ok: bool
    detail: str  # why it failed, or what it raised as expected
    output: str  # what the block printed (stdout and stderr)
    seconds: float


def chain(example: Example, lesson_examples: Iterable[Example]) -> list[Example]:
    """The blocks to run, in order, for `example`: what it needs (recursively), then itself."""
    by_name: dict[str, Example] = {}
    for other in lesson_examples:
        if other.kind:
            by_name[other.label] = other
            if other.name:
                by_name[other.name] = other
    ordered: list[Example] = []

    def visit(block: Example) -> None:
        for need in block.needs:
            visit(by_name[need])
        if block not in ordered:
            ordered.append(block)

    visit(example)
    return ordered


def _environment(api_key: str, base_url: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANTHROPIC_")}
    env["ANTHROPIC_API_KEY"] = api_key
    if base_url:
        env["ANTHROPIC_BASE_URL"] = base_url
    return env


def _exec_blocks(blocks: list[list], env: dict, workdir: str) -> dict[str, str]:
    """In the forked child: run the blocks in one namespace; say what they raised, if anything."""
    os.chdir(workdir)
    os.environ.clear()
    os.environ.update(env)
    log = open(os.path.join(workdir, ".output"), "w", buffering=1)  # noqa: SIM115
    os.dup2(log.fileno(), 1)
    os.dup2(log.fileno(), 2)
    sys.stdout = sys.stderr = log
    namespace = {"__name__": "__main__"}
    try:
        for path, line, code in blocks:
            # Blank lines in front, so a traceback names the line of the lesson file.
            exec(compile("\n" * (line - 1) + code, path, "exec"), namespace)  # noqa: S102
    except SystemExit as stop:
        if stop.code not in (None, 0):
            return {"raised": "SystemExit", "module": "builtins", "message": str(stop.code)}
    except BaseException as error:  # the block's own exception is the result
        return {
            "raised": type(error).__name__,
            "module": type(error).__module__,
            "message": str(error),
            "traceback": traceback.format_exc(),
        }
    finally:
        log.flush()
    return {}


def _serve() -> None:
    """The warm worker: import the SDK once, then fork a fresh child for every job.

    A job is a JSON line on stdin (blocks, env, workdir, timeout); the answer is a JSON line on
    stdout. The worker itself has one thread, so forking it is safe.
    """
    import anthropic  # noqa: F401  (the slow import every child then shares)

    for line in sys.stdin:
        job = json.loads(line)
        result = os.path.join(job["workdir"], ".result")
        pid = os.fork()
        if pid == 0:
            signal.signal(signal.SIGALRM, signal.SIG_DFL)  # the kernel ends a block that hangs
            signal.alarm(job["timeout"])
            outcome = _exec_blocks(job["blocks"], job["env"], job["workdir"])
            Path(result).write_text(json.dumps(outcome))
            os._exit(0)
        _, status = os.waitpid(pid, 0)
        if os.path.exists(result):
            answer = json.loads(Path(result).read_text())
        elif os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGALRM:
            answer = {"timeout": True}
        else:
            answer = {"died": f"the process ended without a result (status {status})"}
        sys.__stdout__.write(json.dumps(answer) + "\n")
        sys.__stdout__.flush()


class _Worker:
    """The runner's side of the warm worker: started on first use, one job at a time."""

    def __init__(self) -> None:
        self._process: subprocess.Popen[str] | None = None
        self._lock = threading.Lock()

    def run(self, job: dict) -> dict:
        with self._lock:
            if self._process is None or self._process.poll() is not None:
                self._process = subprocess.Popen(  # noqa: S603
                    [sys.executable, "-m", "course.example_runner"],
                    cwd=Path(__file__).resolve().parent.parent,
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    text=True,
                )
                atexit.register(self.close)
            assert self._process.stdin and self._process.stdout
            self._process.stdin.write(json.dumps(job) + "\n")
            self._process.stdin.flush()
            answer = self._process.stdout.readline()
        return json.loads(answer) if answer else {"died": "the example worker stopped"}

    def close(self) -> None:
        """End the worker: it leaves its loop when its input closes."""
        with self._lock:
            process, self._process = self._process, None
        if process is None:
            return
        assert process.stdin and process.stdout
        process.stdin.close()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        process.stdout.close()


_worker = _Worker()


def _matches(fails: str, raised: str, module: str) -> bool:
    """`fails=TypeError` or `fails=anthropic.BadRequestError`: the exact class, not a parent."""
    package, _, name = fails.rpartition(".")
    return name == raised and (not package or module.split(".")[0] == package.split(".")[0])


def _run_python(
    example: Example, blocks: list[Example], env: dict, workdir: str, timeout: int
) -> Outcome:
    started = time.monotonic()
    segments = [[str(block.path), block.line, block.code] for block in blocks]
    job = {"blocks": segments, "env": env, "workdir": workdir, "timeout": timeout}
    outcome = _worker.run(job)
    seconds = time.monotonic() - started
    output = Path(workdir, ".output").read_text() if Path(workdir, ".output").exists() else ""
    if outcome.get("timeout"):
        return Outcome(example, False, f"did not finish within {timeout} s", output, seconds)
    if "died" in outcome:
        return Outcome(example, False, outcome["died"], output, seconds)
    raised = outcome.get("raised", "")
    if example.fails:
        if raised and _matches(example.fails, raised, outcome["module"]):
            return Outcome(example, True, f"raised {raised} as marked", output, seconds)
        got = f"raised {raised}: {outcome['message']}" if raised else "ran without an error"
        return Outcome(example, False, f"marked fails={example.fails} but {got}", output, seconds)
    if raised:
        detail = outcome.get("traceback") or f"{raised}: {outcome['message']}"
        return Outcome(example, False, detail, output, seconds)
    return Outcome(example, True, "", output, seconds)


def _run_curl(
    example: Example,
    blocks: list[Example],
    env: dict,
    workdir: str,
    base_url: str | None,
    timeout: int,
) -> Outcome:
    started = time.monotonic()
    script = _CURL_PRELUDE + "\n".join(block.code for block in blocks)
    if base_url:
        script = script.replace(API_URL, base_url.rstrip("/"))
    try:
        done = subprocess.run(  # noqa: S603
            ["bash", "-c", script],
            cwd=workdir,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as expired:
        output = (expired.stdout or b"").decode(errors="replace")
        return Outcome(example, False, f"did not finish within {timeout} s", output, timeout)
    seconds = time.monotonic() - started
    output = done.stdout + done.stderr
    statuses = [int(code) for code in _STATUS_RE.findall(done.stdout)]
    if done.returncode != 0:
        return Outcome(example, False, f"bash exited with {done.returncode}", output, seconds)
    if not statuses:
        return Outcome(example, False, "no curl request was made", output, seconds)
    if example.fails:
        if statuses[-1] == int(example.fails):
            return Outcome(example, True, f"HTTP {statuses[-1]} as marked", output, seconds)
        return Outcome(
            example, False, f"marked fails={example.fails} but got HTTP {statuses}", output, seconds
        )
    if any(status >= 400 for status in statuses):
        return Outcome(example, False, f"HTTP error status: {statuses}", output, seconds)
    return Outcome(example, True, "", output, seconds)


def run(
    example: Example,
    lesson_examples: Iterable[Example],
    *,
    api_key: str,
    base_url: str | None = None,
    files: Path | None = None,
    timeout: int = TIMEOUT,
) -> Outcome:
    """Run one runnable example (after the blocks it needs) in a fresh working directory."""
    blocks = chain(example, lesson_examples)
    env = _environment(api_key, base_url)
    with tempfile.TemporaryDirectory(prefix="lesson-example-") as workdir:
        if files and files.is_dir():
            shutil.copytree(files, workdir, dirs_exist_ok=True)
        if example.kind == "python":
            return _run_python(example, blocks, env, workdir, timeout)
        return _run_curl(example, blocks, env, workdir, base_url, timeout)


if __name__ == "__main__":
    _serve()
