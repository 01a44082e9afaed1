from __future__ import annotations

from tutor.models import Message
from tutor.trimming import build_messages


def turn(pk: int, role: str, text: str) -> Message:
    return Message(pk=pk, role=role, text=text)


def test_it_sends_the_whole_conversation_when_it_fits():
    history = [turn(1, "user", "a"), turn(2, "assistant", "b"), turn(3, "user", "c")]
    messages, first = build_messages(history, budget=1000)
    assert first == 1
    assert messages[:2] == [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]
    assert messages[2] == {
        "role": "user",
        "content": [{"type": "text", "text": "c", "cache_control": {"type": "ephemeral"}}],
    }


def test_it_drops_the_oldest_turns_beyond_the_budget_and_starts_with_the_learner():
    history = [
        turn(1, "user", "x" * 300),
        turn(2, "assistant", "y" * 300),
        turn(3, "user", "z" * 30),
        turn(4, "assistant", "w" * 30),
        turn(5, "user", "newest"),
    ]
    messages, first = build_messages(history, budget=150)  # ≈ 3 characters a token
    assert first == 3
    assert [m["role"] for m in messages] == ["user", "assistant", "user"]


def test_an_assistant_turn_left_first_after_trimming_is_dropped():
    history = [turn(1, "user", "q" * 600), turn(2, "assistant", "short"), turn(3, "user", "newest")]
    messages, first = build_messages(history, budget=20)
    assert first == 3 and len(messages) == 1


def test_the_newest_question_is_always_sent_even_over_budget():
    messages, first = build_messages([turn(9, "user", "long " * 1000)], budget=10)
    assert first == 9 and messages[0]["content"][0]["text"].startswith("long")
