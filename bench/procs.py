"""Start, pin, watch and stop the processes of a benchmark run (all on 127.0.0.1)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable  # the project's .venv python, so the locked versions are what runs
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")


def cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1


def pinned(command: list[str], core: int | None) -> list[str]:
    """Prefix `taskset -c core` when pinning is possible; else run unpinned."""
    if core is None or cores() < 2 or shutil.which("taskset") is None:
        return command
    return ["taskset", "-c", str(core), *command]


def pin_self(core: int | None) -> bool:
    """Pin the load generator next to the fake server, away from the site's core."""
    if core is None or cores() < 2 or not hasattr(os, "sched_setaffinity"):
        return False
    os.sched_setaffinity(0, {core})
    return True


def free_port() -> int:
    # Small race (the port could be taken before daphne binds it); daphne then fails loudly.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid: int) -> float:
    """utime + stime of one process (all its threads) from /proc/<pid>/stat."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()  # the command name may contain spaces
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # fields 14 and 15 of stat(5)


def thread_cpu_seconds(pid: int) -> dict[int, float]:
    """CPU seconds of each live thread of a process: the event loop is the thread tid == pid."""
    out = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue  # the thread ended between listdir and open
        out[int(tid)] = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    return out


def family(pid: int) -> list[int]:
    """A process and its direct children (nginx's master and its workers)."""
    children = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (FileNotFoundError, ProcessLookupError):
                continue
            if ppid == pid:
                children.append(int(entry))
    return [pid, *children]


def core_busy_seconds() -> dict[int, float]:
    """Busy seconds of each core from /proc/stat, whoever used them (steal counts as busy).

    The benchmark's processes are pinned, so a core's busy time minus theirs is other load on
    the machine (a shared CI box, another engineer's browser tests): it is reported per round.
    """
    out = {}
    with open("/proc/stat") as f:
        for line in f:
            name, *values = line.split()
            if name.startswith("cpu") and name != "cpu":
                user, nice, system, _idle, _iowait, irq, softirq, steal = map(int, values[:8])
                out[int(name[3:])] = (user + nice + system + irq + softirq + steal) / CLOCK_TICKS
    return out


def wait_quiet(limit: float, threshold: float = 0.15) -> dict[str, float]:
    """Wait (at most `limit` s) until the busiest core is < `threshold` busy over one second.

    Called between steps, when the benchmark's own processes are idle, so what it sees is
    other work on the machine. It never stops anything; it only waits, and reports what it saw.
    """
    waited = 0.0
    while True:
        before = core_busy_seconds()
        time.sleep(1.0)
        after = core_busy_seconds()
        busy = max(after[core] - before[core] for core in after)
        if busy < threshold or waited >= limit:
            return {"busiest_core": busy, "waited_s": waited}
        waited += 1.0


def rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/statm") as f:
        return int(f.read().split()[1]) * PAGE_SIZE / 2**20


def site_env(base: dict[str, str], tmp: Path, fake_url: str, coalesce_ms: int | None) -> dict:
    """The production-like settings of the site under test (brief: DEBUG off, WARNING logs)."""
    env = dict(base)
    env.update(
        DJANGO_SETTINGS_MODULE="course.settings",
        DEBUG="false",
        SECRET_KEY="bench",
        ALLOWED_HOSTS="127.0.0.1,localhost",
        DATABASE_URL=f"sqlite:///{tmp / 'bench.sqlite3'}",
        STATIC_ROOT=str(tmp / "static"),
        LOG_LEVEL="WARNING",
        ANTHROPIC_API_KEY="bench-key",
        ANTHROPIC_BASE_URL=fake_url,
        # Far above what a run asks, so the limits never refuse a benchmark question.
        TUTOR_BURST_PER_MINUTE="100000",
        TUTOR_MESSAGES_PER_DAY="1000000",
        TUTOR_TOKENS_PER_DAY="2000000000",
        PYTHONUNBUFFERED="1",
    )
    if coalesce_ms is not None:
        env["TUTOR_COALESCE_MS"] = str(coalesce_ms)
    return env


@dataclass
class Fake:
    process: subprocess.Popen
    api: str
    control: str

    def timings(self) -> dict:
        with urllib.request.urlopen(self.control + "/timings", timeout=30) as response:
            return json.load(response)

    def reset(self) -> None:
        request = urllib.request.Request(self.control + "/reset", data=b"", method="POST")
        urllib.request.urlopen(request, timeout=30).close()


def start_fake(core: int | None, log: Path) -> Fake:
    process = subprocess.Popen(
        pinned([PYTHON, "-m", "bench.fake_server"], core),
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=log.open("wb"),
        text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline()  # blocks until it is listening (or died)
    if not line:
        raise RuntimeError(f"the fake server did not start; see {log}")
    ports = json.loads(line)
    return Fake(process, ports["api"], ports["control"])


def run_checked(command: list[str], env: dict, timeout: float) -> str:
    done = subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
    )
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{done.stderr[-3000:]}")
    return done.stdout


def prepare_database(env: dict, groups: dict[str, int]) -> dict[str, str]:
    """Migrate a fresh SQLite file, then create learners; returns {username: sessionid}.

    Static files are collected too: with DEBUG off the site refuses to start without them.
    """
    run_checked([PYTHON, "manage.py", "migrate", "--noinput"], env, timeout=180)
    run_checked([PYTHON, "manage.py", "collectstatic", "--noinput"], env, timeout=180)
    args = [str(x) for prefix, count in groups.items() for x in (prefix, count)]
    return json.loads(run_checked([PYTHON, "-m", "bench.learners", *args], env, timeout=180))


def start_daphne(
    env: dict,
    port: int,
    core: int | None,
    log: Path,
    profile: Path | None = None,
    flags: Sequence[str] = (),
) -> subprocess.Popen:
    command = [PYTHON, "-m", "daphne"]
    if profile is not None:  # the same daphne CLI, inside bench.sampler
        command = [PYTHON, "-m", "bench.sampler", str(profile), "--"]
    command += ["-b", "127.0.0.1", "-p", str(port), *flags, "course.asgi:application"]
    process = subprocess.Popen(
        pinned(command, core), cwd=ROOT, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"daphne exited with {process.returncode}; see {log}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return process
        except OSError:
            time.sleep(0.1)
    stop(process)
    raise RuntimeError(f"daphne did not listen on port {port} within 60 s; see {log}")


def stop(process: subprocess.Popen | None, grace: float = 10) -> None:
    """SIGTERM, then SIGKILL after `grace` seconds; only the process this run started."""
    if process is None or process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(5)
