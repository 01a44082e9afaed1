"""The benchmark's printed report reads its figures from the results it is given."""

from __future__ import annotations

import json
from pathlib import Path

from bench import report

RESULTS = Path(__file__).resolve().parent.parent / "bench/results/2026-12-06-session3/after.json"


def test_the_site_cpu_per_turn_is_set_beside_the_direct_sdks_own():
    results = json.loads(RESULTS.read_text())
    table = report.render(results)
    step = next(s for s in results["steps"] if s["learners"] == 50)
    site = step["site"]["daphne_cpu_ms_per_turn"]
    direct = step["direct"]["generator_cpu_ms_per_turn"]
    assert "site/direct CPU" in table
    # N=50's rows: latency first, then throughput and cost
    throughput = [line for line in table.splitlines() if line.split()[:1] == ["50"]][1]
    assert f"{site:.1f}" in throughput.split()
    assert f"{direct:.1f}" in throughput.split()
    assert f"{site / direct:.2f}" in throughput.split()
