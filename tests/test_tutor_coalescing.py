"""A busy process sends fewer, fuller frames (tutor/generation.py `coalesce_window`)."""

from __future__ import annotations

import pytest

from tutor import generation


@pytest.mark.parametrize(("replies", "window_ms"), [(0, 30), (1, 30.25), (80, 50), (200, 70)])
def test_the_window_widens_with_the_replies_being_written_up_to_its_cap(
    settings, monkeypatch, replies, window_ms
):
    settings.TUTOR_COALESCE_MS, settings.TUTOR_COALESCE_MAX_MS = 30, 70
    monkeypatch.setattr(generation, "running", dict.fromkeys(range(replies)))
    assert generation.coalesce_window() == pytest.approx(window_ms / 1000)


def test_a_cap_below_the_base_window_never_shortens_it(settings, monkeypatch):
    settings.TUTOR_COALESCE_MS, settings.TUTOR_COALESCE_MAX_MS = 30, 10
    monkeypatch.setattr(generation, "running", dict.fromkeys(range(500)))
    assert generation.coalesce_window() == pytest.approx(0.030)
