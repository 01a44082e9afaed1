"""A response's cache diagnostics are shown where a learner reads the call: the sandbox's result."""

from __future__ import annotations

import html

from course import claude
from course.sandbox import partials

SYSTEM_CHANGED = {
    "cache_miss_reason": {"type": "system_changed", "cache_missed_input_tokens": 3712}
}


def result_with(diagnostics) -> dict:
    response = {
        "id": "msg_01",
        "type": "message",
        "role": "assistant",
        "content": [{"type": "text", "text": "Hi"}],
        "stop_reason": "end_turn",
        "usage": {"input_tokens": 20, "output_tokens": 1, "cache_read_input_tokens": 0},
        "diagnostics": diagnostics,
    }
    return {
        "status": 200,
        "response": response,
        "error": None,
        "usage": response["usage"],
        "cache": "none",
        "total_ms": 5,
        "mode": "simulator",
    }


def panel(diagnostics) -> str:
    return html.unescape(
        partials.render_result(result_with(diagnostics), None, None, None)["result"]
    )


def test_the_result_panel_names_the_cache_miss_reason_and_the_tokens_it_cost():
    shown = panel(SYSTEM_CHANGED)
    assert "Cache miss reason" in shown
    assert "system_changed, about 3,712 input tokens not read from the cache" in shown


def test_a_reason_without_a_token_count_is_shown_alone():
    shown = panel({"cache_miss_reason": {"type": "previous_message_not_found"}})
    assert "previous_message_not_found</dd>" in shown


def test_a_pending_diagnosis_says_to_look_again():
    assert "pending: the comparison was not finished" in panel({"cache_miss_reason": None})


def test_no_diagnostics_means_no_row():
    assert "Cache miss reason" not in panel(None)
    assert claude.diagnosis(None) == ""
