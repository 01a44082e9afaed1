"""Hostile and malformed frames: each gets an answer in the panel, the socket stays open."""

from __future__ import annotations

import json
import logging
import random

import pytest
from asgiref.sync import sync_to_async

from tests.tutor_client import ask, connect, learner, until
from tutor.markup import FINAL
from tutor.models import Message

pytestmark = [
    pytest.mark.asyncio,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("tutor_cleanup"),
]

FRAMES = 2500  # a fixed number from a fixed seed: the run is bounded and repeatable
ODD_VALUES = [
    None,
    True,
    False,
    0,
    -1,
    1.5,
    2**63,
    10**400,
    "",
    " ",
    "x",
    "\ud800",
    "\x00",
    [],
    [1, [2]],
    {},
    {"a": {"b": 1}},
    "Infinity",
]
CONSTANTS = ["Infinity", "-Infinity", "NaN", "1e999", "-0", "99999999999999999999999"]


def _nested(rng: random.Random) -> str:
    depth = rng.choice([25, 200, 5_000, 20_000])
    opener, closer = rng.choice([("[", "]"), ('{"a":', "}")])
    inner = opener * depth + "1" + closer * depth
    return rng.choice([inner, f'{{"action": {inner}}}', f'{{"message": {inner}}}'])


def _random_text(rng: random.Random) -> str:
    alphabet = '{}[]":,\\ntrufalsenul0123456789.eE+- \t\ud800\udfff\x00é😀'
    text = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 60)))
    # Anything that could parse as a real question is made unreadable on purpose.
    return text if '"message"' not in text else "[" + text


def bad_frame(rng: random.Random) -> dict:
    """One frame the tutor cannot act on, chosen from several families of bad input."""
    kind = rng.randrange(10)
    if kind == 0:
        return {"bytes_data": rng.randbytes(rng.randint(1, 64))}
    if kind == 1:
        return {"text_data": _random_text(rng)}
    if kind == 2:
        return {"text_data": _nested(rng)}
    if kind == 3:
        action = rng.choice([a for a in ODD_VALUES if a not in ("",)] + ["format-disk", "SEND"])
        if action in (None, False, 0, [], {}):
            action = "stop!"
        return {"text_data": json.dumps({"action": action, "message": "hi"})}
    if kind == 4:
        message_id = rng.choice(ODD_VALUES + [10**12])
        if isinstance(message_id, float):
            message_id = rng.choice(CONSTANTS)
        return {"text_data": f'{{"action": "retry", "message_id": {_raw(message_id)}}}'}
    if kind == 5:
        constant = rng.choice(CONSTANTS)
        return {"text_data": f'{{"action": "retry", "message_id": {constant}}}'}
    if kind == 6:
        message = rng.choice([None, 0, 1.5, True, [], {}, ["a"], {"text": "hi"}, "", "   "])
        return {"text_data": json.dumps({"message": message, "HEADERS": {"HX-Request": "true"}})}
    if kind == 7:
        body = rng.choice([[], "x", None, 1, {"action": "format-disk"}, {"message": ""}])
        return {"text_data": json.dumps({"body": body, "message": ""})}
    if kind == 8:
        return {"text_data": rng.choice(["   ", "\n\t", "null", "1", '"x"', "[]", "true"])}
    return {"text_data": "x" * (64 * 1024 + rng.randint(1, 4096))}


def _raw(value: object) -> str:
    if isinstance(value, str) and value in CONSTANTS:
        return value
    return json.dumps(value)


async def test_thousands_of_bad_frames_each_get_a_notice_and_the_socket_stays_open(online, caplog):
    rng = random.Random(20261126)
    _, cookie = await learner()
    tutor = await connect(cookie)
    with caplog.at_level(logging.WARNING):
        for number in range(FRAMES):
            frame = bad_frame(rng)
            await tutor.send_to(**frame)
            answer = await tutor.receive_from(timeout=5)
            assert 'id="tutor-notice"' in answer, (number, frame, answer)
        await ask(tutor, "Still there after all that?")
        assert "Still there after all that?" in "".join(await until(tutor, FINAL))
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == []
    await tutor.disconnect()


@pytest.mark.parametrize(
    ("raw", "saved"),
    [
        ('{"message": "Why \\ud800 this?"}', "Why \ufffd this?"),
        ('{"message": "Tail \\udfff"}', "Tail \ufffd"),
        ('{"message": "Nul\\u0000 byte"}', "Nul byte"),
        ('{"message": "Emoji \\ud83d\\ude00 kept"}', "Emoji \U0001f600 kept"),
    ],
)
async def test_a_question_with_characters_the_database_cannot_store_is_kept_readable(
    online, raw, saved
):
    _, cookie = await learner()
    tutor = await connect(cookie)
    await tutor.send_to(text_data=raw)
    await until(tutor, FINAL)
    question = await sync_to_async(Message.objects.get)(role="user")
    assert question.text == saved
    await tutor.disconnect()


async def test_a_frame_of_a_mebibyte_is_answered_in_band(online):
    _, cookie = await learner()
    tutor = await connect(cookie)
    await tutor.send_to(text_data=json.dumps({"message": "x" * (1024 * 1024)}))
    notice = await tutor.receive_from(timeout=5)
    assert "too large to send: the tutor takes up to 64 KiB" in notice
    await ask(tutor, "And now a short one")
    assert "And now a short one" in "".join(await until(tutor, FINAL))
    await tutor.disconnect()
