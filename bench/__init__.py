"""A load benchmark for the tutor's websocket relay (run `python -m bench.run`; not a test)."""

from __future__ import annotations
