"""Throttles on accounts: sign-ups per address, and wrong passwords per account and per address."""

from __future__ import annotations

import logging
import time

from axes.handlers.database import AxesDatabaseHandler
from django.conf import settings
from django.core.cache import cache
from django.db.models import Sum
from django.http import HttpRequest

logger = logging.getLogger(__name__)
SIGNUPS_KEY = "signups:{}:{}"  # address, hour


def signup_refusal(request: HttpRequest) -> str:
    """Why this address may not create another account now, or "".

    Every account gets its own allowance for Claude, so accounts are counted per address, per
    hour, in the cache the site's processes share (Redis, when REDIS_URL is set). REMOTE_ADDR is
    the client's: behind the proxy, daphne takes it from the X-Real-IP that nginx sets.
    """
    try:
        made = cache.get(_key(request), 0)
    except Exception:  # the shared store is down: let learners in rather than lock them out
        logger.warning("sign-up throttle unavailable", exc_info=True)
        return ""
    if made < settings.SIGNUPS_PER_HOUR:
        return ""
    return (
        f"{settings.SIGNUPS_PER_HOUR} accounts were created from your connection in the last "
        "hour, the most the course allows. Try again later, or log in to an account you have."
    )


def count_signup(request: HttpRequest) -> None:
    key = _key(request)
    try:
        cache.add(key, 0, timeout=3600)
        cache.incr(key)
    except Exception:
        logger.warning("sign-up throttle unavailable", exc_info=True)


def _key(request: HttpRequest) -> str:
    return SIGNUPS_KEY.format(request.META.get("REMOTE_ADDR", ""), int(time.time() // 3600))


class LoginThrottle(AxesDatabaseHandler):
    """django-axes' handler, with the failures from one address across usernames weighed
    against a limit of their own (LOGIN_ADDRESS_FAILURE_LIMIT), so that password spraying is
    stopped without one learner's typos locking out a class that shares an address."""

    def get_failures(self, request, credentials: dict | None = None) -> int:
        # One queryset per AXES_LOCKOUT_PARAMETERS entry: (username, address), then address.
        pair, address = (
            attempts.aggregate(total=Sum("failures_since_start"))["total"] or 0
            for attempts in self.get_user_attempts(request, credentials)
        )
        # Scaled so that LOGIN_ADDRESS_FAILURE_LIMIT failures reach AXES_FAILURE_LIMIT.
        scaled = address * settings.AXES_FAILURE_LIMIT // settings.LOGIN_ADDRESS_FAILURE_LIMIT
        return max(pair, scaled)
