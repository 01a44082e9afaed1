"""On PostgreSQL a locked reply row delays only that reply's save, never another learner's stream."""

from __future__ import annotations

import asyncio
import re
import threading

import pytest
from asgiref.sync import sync_to_async
from django.db import connection, transaction

from tests.tutor_client import ask, connect, learner, until
from tutor.markup import FINAL
from tutor.models import Message

pytestmark = [
    pytest.mark.asyncio,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("tutor_cleanup"),
]


def hold_row_lock(pk: int, locked: threading.Event, release: threading.Event) -> None:
    """What another process (an admin edit, a long report) does: lock one reply row."""
    try:
        with transaction.atomic():
            Message.objects.select_for_update().get(pk=pk)
            locked.set()
            release.wait(timeout=30)
    finally:
        connection.close()


@sync_to_async
def reply_of(username: str) -> Message:
    return Message.objects.get(role="assistant", conversation__user__username=username)


async def test_a_locked_reply_row_delays_only_its_own_save(online, settings):
    if connection.vendor != "postgresql":
        pytest.skip("row locks are PostgreSQL's; SQLite locks the whole file (test_tutor_faults)")
    settings.TUTOR_FLUSH_SECONDS = 0.1
    _, ada_cookie = await learner("ada")
    _, grace_cookie = await learner("grace")
    ada, grace = await connect(ada_cookie), await connect(grace_cookie)
    await ask(ada, "Long one [[fake tokens=60 rate=15]]")
    await until(ada, "w0003")
    locked, release = threading.Event(), threading.Event()
    holder = threading.Thread(
        target=hold_row_lock, args=((await reply_of("ada")).pk, locked, release)
    )
    holder.start()
    try:
        assert await asyncio.to_thread(locked.wait, 5)
        # Another learner asks, streams and finishes while Ada's row is locked, and her reply is
        # saved as it goes: the progress save skips the locked row instead of waiting for it.
        await ask(grace, "Short one [[fake tokens=20 rate=10]]")
        await until(grace, "w0008")
        saved = ""
        for _ in range(50):
            saved = (await reply_of("grace")).text
            if "w0005" in saved:
                break
            await asyncio.sleep(0.1)
        assert "w0005" in saved and (await reply_of("grace")).status == "streaming"
        finished = (await until(grace, FINAL, timeout=10))[-1]
        assert "status-complete" in finished
        grace_row = await reply_of("grace")
        assert grace_row.status == "complete"
        assert re.findall(r"w\d{4}", grace_row.text) == [f"w{i:04}" for i in range(1, 20)]
        # Ada's stream never waited for her row: it reaches its last word while still locked.
        await until(ada, "w0059", timeout=10)
        assert (await reply_of("ada")).status == "streaming"
    finally:
        release.set()
        await asyncio.to_thread(holder.join, 10)
    # Her save was only delayed: once the lock clears, the full text is there.
    await until(ada, FINAL, timeout=10)
    ada_row = await reply_of("ada")
    assert ada_row.status == "complete"
    assert re.findall(r"w\d{4}", ada_row.text) == [f"w{i:04}" for i in range(1, 60)]
    await ada.disconnect()
    await grace.disconnect()
