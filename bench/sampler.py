"""Run daphne under a small statistical profiler (py-spy is not installed here).

    python -m bench.sampler OUT.json -- -b 127.0.0.1 -p 8001 course.asgi:application

Every 10 ms of process CPU time (ITIMER_PROF), the handler records the Python stack of every
thread that is not parked waiting (in the selector or on a queue). At exit (SIGTERM stops
daphne's reactor, then its run() returns) it writes the most frequent functions, inclusive (on the
stack) and self (on top), with the share of samples in which they appeared. Samples are taken
when the main thread next holds the GIL, so treat shares as rough (±5 %), not exact.
"""

from __future__ import annotations

import collections
import json
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

INTERVAL = 0.010
# Leaf functions where a thread waits rather than works: samples there are not CPU.
IDLE = {
    "selectors.py:select",
    "threading.py:wait",
    "threading.py:_wait_for_tstate_lock",
    "queue.py:get",
    "concurrent/futures/thread.py:_worker",
}
ROOT = str(Path(__file__).resolve().parent.parent)


def _where(frame: FrameType) -> str:
    path = frame.f_code.co_filename
    for marker in ("site-packages/", "python3.11/"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    else:
        path = path.removeprefix(ROOT + "/")
    return f"{path}:{frame.f_code.co_name}"


class Sampler:
    def __init__(self) -> None:
        self.samples = 0
        self.inclusive: collections.Counter[str] = collections.Counter()
        self.own: collections.Counter[str] = collections.Counter()
        self.threads: collections.Counter[str] = collections.Counter()
        self.main = threading.main_thread().ident

    def handler(self, signum: int, frame: FrameType | None) -> None:
        for ident, top in sys._current_frames().items():
            if ident == self.main:
                top = frame  # where the loop was interrupted, not this handler
            if top is None or _where(top) in IDLE:
                continue
            stack, f = [], top
            while f is not None:
                stack.append(_where(f))
                f = f.f_back
            self.samples += 1
            self.threads["loop" if ident == self.main else "other threads"] += 1
            self.own[stack[0]] += 1
            self.inclusive.update(set(stack))

    def report(self, top: int = 250) -> dict:
        share = lambda n: round(100 * n / max(1, self.samples), 1)  # noqa: E731
        return {
            "interval_ms": INTERVAL * 1000,
            "samples": self.samples,
            "threads_pct": {k: share(v) for k, v in self.threads.items()},
            "inclusive_pct": {k: share(v) for k, v in self.inclusive.most_common(top)},
            "self_pct": {k: share(v) for k, v in self.own.most_common(top)},
        }


def main() -> None:
    out, args = Path(sys.argv[1]), sys.argv[sys.argv.index("--") + 1 :]
    sampler = Sampler()
    signal.signal(signal.SIGPROF, sampler.handler)
    signal.setitimer(signal.ITIMER_PROF, INTERVAL, INTERVAL)
    from daphne.cli import CommandLineInterface

    try:
        CommandLineInterface().run(args)
    finally:
        signal.setitimer(signal.ITIMER_PROF, 0, 0)
        out.write_text(json.dumps(sampler.report(), indent=1) + "\n")


if __name__ == "__main__":
    main()
