"""The channel layer of a single process (no REDIS_URL): Channels' in-memory layer, swept less.

Channels' InMemoryChannelLayer sweeps every channel and group for expired messages on each
send and receive. With a class of sockets open that walk cost more than the messages it was
clearing: at 200 learners, every frame of every reply walked hundreds of channels. Here the sweep
runs at most once a second, which keeps its purpose (messages expire after `expiry`, 60 s by
default; memberships after `group_expiry`) at a fraction of the cost.
"""

from __future__ import annotations

import time

from channels.layers import InMemoryChannelLayer


class SweptInMemoryChannelLayer(InMemoryChannelLayer):
    sweep_every = 1.0  # seconds
    _swept_at = float("-inf")

    def _clean_expired(self) -> None:
        now = time.monotonic()
        if now - self._swept_at >= self.sweep_every:
            self._swept_at = now
            super()._clean_expired()
