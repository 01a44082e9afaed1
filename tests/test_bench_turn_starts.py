"""`python -m bench.turn_starts` runs on a fresh database and splits a batch into its steps."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_a_batch_is_timed_step_by_step_on_its_own_database():
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    done = subprocess.run(
        [sys.executable, "-m", "bench.turn_starts", "--batch", "3", "--rounds", "1"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("batch of 3 (existing conversations), 1 batches")
    steps = {line.split()[0] for line in lines[1:-1]}
    assert {"reserve_together", "_histories", "started"} <= steps
    assert lines[-1].split()[:2] == ["the", "rest"]  # what no timed step accounts for
