"""The tutor's database pool closes every thread's connections, then starts afresh on use."""

from __future__ import annotations

import threading

from django.db import connections

from tutor import db


def test_closing_the_pool_closes_a_connection_on_each_thread_and_a_new_pool_serves(
    settings, monkeypatch
):
    settings.TUTOR_DB_THREADS = 3
    monkeypatch.setattr(db, "_pool", None)
    db.pool().submit(lambda: None).result()  # one thread started so far, of three
    closed_on = set()
    monkeypatch.setattr(connections, "close_all", lambda: closed_on.add(threading.get_ident()))
    first = db.pool()
    db.close()
    assert len(closed_on) == 3 and db._pool is None and first._shutdown
    assert db.pool() is not first and db.pool().submit(lambda: 42).result() == 42
    db.close()
