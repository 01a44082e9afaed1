"""A reply's states and moves, all on Message (tutor/models.py); reading one never writes."""

from __future__ import annotations

import ast
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from tutor.models import Busy, Conversation, Message

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parent.parent


def streaming_reply(saved_ago: timedelta = timedelta(0)) -> Message:
    user = get_user_model().objects.create_user("ada", password="correct horse battery")
    conversation = Conversation.objects.current_for(user, "messages-api")
    question = conversation.messages.create(role="user", text="Still there?")
    reply = conversation.messages.start_reply(reply_to=question, text="Half a rep", model="m")
    Message.objects.filter(pk=reply.pk).update(updated_at=timezone.now() - saved_ago)
    reply.refresh_from_db()
    return reply


def test_a_reply_starts_streaming_and_its_saves_append_and_keep_it_alive(settings):
    reply = streaming_reply(saved_ago=timedelta(seconds=settings.TUTOR_STALE_SECONDS + 5))
    assert reply.is_streaming and reply.is_stale(live=())
    assert Message.objects.append({reply.pk: "ly."}) == [reply.pk]
    reply.refresh_from_db()
    assert reply.text == "Half a reply." and not reply.is_stale(live=())


def test_a_reply_unsaved_too_long_is_stale_unless_this_process_writes_it(settings):
    reply = streaming_reply(saved_ago=timedelta(seconds=settings.TUTOR_STALE_SECONDS + 5))
    assert not reply.is_stale(live={reply.pk})
    assert Message.objects.interrupt_stale(live={reply.pk}) == 0
    assert list(Message.objects.stale(live=())) == [reply]
    assert Message.objects.interrupt_stale(live=()) == 1
    reply.refresh_from_db()
    assert (reply.status, reply.retryable, reply.text) == ("interrupted", True, "Half a rep")


def test_reading_a_dead_reply_writes_nothing(settings):
    reply = streaming_reply(saved_ago=timedelta(seconds=settings.TUTOR_STALE_SECONDS + 5))
    with CaptureQueriesContext(connection) as queries:
        assert reply.conversation.streaming_reply() == reply
    assert all(query["sql"].lstrip().upper().startswith("SELECT") for query in queries)
    reply.refresh_from_db()
    assert reply.status == "streaming"


def test_a_busy_conversation_is_refused_until_its_reply_is_found_dead(settings):
    reply = streaming_reply()
    with pytest.raises(Busy):
        reply.conversation.refuse_if_busy(live=())
    Message.objects.filter(pk=reply.pk).update(
        updated_at=timezone.now() - timedelta(seconds=settings.TUTOR_STALE_SECONDS + 5)
    )
    with pytest.raises(Busy):
        reply.conversation.refuse_if_busy(live={reply.pk})  # its writer is here, and alive
    reply.conversation.refuse_if_busy(live=())
    reply.refresh_from_db()
    assert reply.status == "interrupted"


def test_a_reply_finishes_only_in_an_ended_state_and_an_interrupted_one_is_retried_once():
    reply = streaming_reply()
    with pytest.raises(ValueError):
        reply.finish(Message.Status.STREAMING)
    reply.finish(Message.Status.INTERRUPTED, text="Half a reply")
    reply.refresh_from_db()
    assert (reply.status, reply.retryable, reply.text) == ("interrupted", True, "Half a reply")
    assert reply.take_retry() and not reply.take_retry()


def test_importing_the_models_loads_no_writer():
    code = (
        "import django, os, sys; os.environ['DJANGO_SETTINGS_MODULE'] = 'course.settings'; "
        "django.setup(); import tutor.models; "
        "print([m for m in sys.modules if m.startswith('tutor.generation')])"
    )
    found = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert found.stdout.strip() == "[]"


def tutor_imports() -> dict[str, set[str]]:
    """Which tutor modules each tutor module imports, lazily or not."""
    modules = {
        ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__"): path
        for path in (ROOT / "tutor").rglob("*.py")
        if "migrations" not in path.parts
    }
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                imported = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                imported = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
            else:
                continue
            graph[name] |= {other for other in imported if other in modules and other != name}
    return graph


def test_no_tutor_module_imports_itself_back_through_another():
    graph = tutor_imports()

    def reaches(start: str, goal: str, seen: set[str]) -> bool:
        for following in graph[start] - seen:
            seen.add(following)
            if following == goal or reaches(following, goal, seen):
                return True
        return False

    assert [name for name in graph if reaches(name, name, set())] == []
