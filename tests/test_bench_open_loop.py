from __future__ import annotations

from bench.open_loop import schedule


def test_the_open_loop_schedule_is_a_seeded_poisson_process_at_n_over_t():
    arrivals = schedule(learners=200, mean_interval_s=40, duration_s=2000, seed=7)
    assert arrivals == schedule(learners=200, mean_interval_s=40, duration_s=2000, seed=7)
    assert arrivals != schedule(learners=200, mean_interval_s=40, duration_s=2000, seed=8)
    # 200 learners asking every 40 s on average: 5 questions a second, 10,000 in 2,000 s.
    assert 9_700 < len(arrivals) < 10_300
    assert arrivals == sorted(arrivals) and arrivals[0] > 0 and arrivals[-1] < 2000
    gaps = [b - a for a, b in zip(arrivals, arrivals[1:], strict=False)]
    # Exponential gaps: mean 0.2 s, and about e^-1 of them longer than the mean.
    assert 0.19 < sum(gaps) / len(gaps) < 0.21
    assert 0.34 < sum(gap > 0.2 for gap in gaps) / len(gaps) < 0.40
