"""Time each step of starting a batch of turns, in process, on a fresh SQLite database.

    python -m bench.turn_starts --batch 50 --rounds 6 [--new-conversations]

Not a load test: it calls `tutor.turn_starts.start_together` directly, with no sockets, no
event loop and no upstream call, and reports how a batch's time splits between its steps
(docs/performance.md, "2026-12-07"). Each step is timed by wrapping the function that does it;
the rest of the batch (the bulk inserts, the busy check, the transaction) is the remainder.
"""

from __future__ import annotations

import argparse
import collections
import functools
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STEPS = [  # (module, function): what each step of a batch is
    ("tutor.turn_starts", "_signed_in"),
    ("course.allowance", "reserve_together"),
    ("tutor.turn_starts", "_conversations"),
    ("tutor.turn_starts", "_histories"),
    ("tutor.turn_starts", "latest_attempt_texts"),
    ("tutor.turns", "reply_fields"),
    ("tutor.fragments", "started"),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=50, help="questions per batch")
    parser.add_argument("--rounds", type=int, default=6, help="batches timed (after one warm-up)")
    parser.add_argument(
        "--new-conversations", action="store_true", help="every question is a learner's first"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["DATABASE_URL"] = f"sqlite:///{tmp}/bench.sqlite3"
        os.environ.setdefault("ANTHROPIC_API_KEY", "sk-ant-bench-never-sent")
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "course.settings")
        for name in ("TUTOR_BURST_PER_MINUTE", "TUTOR_MESSAGES_PER_DAY"):
            os.environ[name] = "1000000"  # never refuse a benchmark question
        sys.path.insert(0, str(ROOT))
        run(args)


def run(args: argparse.Namespace) -> None:
    import importlib

    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.contrib.sessions.backends.db import SessionStore
    from django.core.management import call_command

    from course.lessons import catalogue
    from tutor.models import Conversation, Message
    from tutor.turn_starts import Question, start_together
    from tutor.turns import Turn

    call_command("migrate", verbosity=0)
    spent: dict[str, float] = collections.defaultdict(float)
    for module, name in STEPS:
        timed(importlib.import_module(module), name, spent)
    lesson = catalogue().get("messages-api")
    learners = iter(range(10**9))

    def batch() -> list[Question]:
        asked = []
        for _ in range(args.batch):
            user = get_user_model().objects.create_user(username=f"learner{next(learners)}")
            session = SessionStore()
            session.create()
            conversation = (
                None
                if args.new_conversations
                else Conversation.objects.create(user=user, lesson_slug=lesson.slug)
            )
            asked.append(Question(conversation, lesson, session, "What is max_tokens?", "", user))
        return asked

    batches = [batch() for _ in range(args.rounds + 1)]
    totals = []
    for number, questions in enumerate(batches):
        if number == 1:
            spent.clear()  # the warm-up batch loads templates and saves the prompt version
        started = time.perf_counter()
        outcomes = start_together(questions, ())
        totals.append(time.perf_counter() - started)
        assert all(isinstance(outcome, Turn) for outcome in outcomes), outcomes[:3]
        Message.objects.filter(status=Message.Status.STREAMING).update(
            status=Message.Status.COMPLETE
        )
    measured = totals[1:]
    print(
        f"batch of {args.batch} ({'new' if args.new_conversations else 'existing'} "
        f"conversations), {args.rounds} batches: median {statistics.median(measured) * 1000:.1f} "
        f"ms, mean {statistics.mean(measured) * 1000:.1f} ms"
    )
    for step, seconds in sorted(spent.items(), key=lambda item: -item[1]):
        print(f"  {step:22s} {seconds / args.rounds * 1000:7.2f} ms a batch")
    rest = statistics.mean(measured) - sum(spent.values()) / args.rounds
    print(f"  {'the rest':22s} {rest * 1000:7.2f} ms a batch")


def timed(module, name: str, spent: dict[str, float]) -> None:
    original = getattr(module, name)

    @functools.wraps(original)
    def step(*args, **kwargs):
        started = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            spent[name] += time.perf_counter() - started

    setattr(module, name, step)


if __name__ == "__main__":
    main()
