"""Per-learner limits on calls to Claude, shared by the tutor and the sandbox."""

from __future__ import annotations

import contextlib
import functools
import math
import operator
from collections import defaultdict
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Count, F, Q, Sum
from django.db.models.functions import Greatest
from django.utils import timezone

from course import model_catalogue
from course.models import ApiCharge, LearnerAllowance

BURST_WINDOW = timedelta(minutes=1)
# A charge still unsettled this long after it began belongs to a call whose process died: no
# call runs this long (the sandbox's lock and the tutor's timeouts end them far sooner).
ABANDONED_AFTER = timedelta(minutes=10)
_active: ContextVar[Charge | None] = ContextVar("active_charge", default=None)


class Refused(Exception):
    """The learner is over a limit; `message` says which and how long to wait."""

    def __init__(self, message: str, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after  # seconds until asking again can succeed, when known


class CeilingReached(Refused):
    """The whole site has spent its daily budget for Claude (SITE_DAILY_SPEND_LIMIT)."""


@dataclass(frozen=True)
class Allowance:
    messages_left: int  # questions and sandbox runs left today
    tokens_left: int
    burst_left: int  # requests left in the current minute
    burst_resets_in: int | None  # seconds until one more request is allowed, when at the limit
    refusal: Refused | None = None  # why a reservation would be refused now


@dataclass
class Charge:
    """A reserved call. Count its upstream attempts, then settle it when the call ends."""

    pk: int | None  # None: a free call (the offline tutor), which records nothing
    source: str
    messages_left: int = 0  # questions and runs left today, this one included
    model: str | None = None  # what the call's tokens are priced at
    attempts: int = 0
    settled: bool = field(default=False, repr=False)

    def attempt(self) -> None:
        self.attempts += 1

    @contextlib.contextmanager
    def active(self) -> Iterator[Charge]:
        """Count every upstream attempt made inside the block (see `note_attempt`)."""
        token = _active.set(self)
        try:
            yield self
        finally:
            _active.reset(token)

    def settle(self, usage: dict[str, Any], *, produced: bool, model: str | None = None) -> None:
        """Record the tokens used and what they cost on `model`; a call that produced nothing
        gives the day's question back."""
        tokens = sum(
            usage.get(name) or 0
            for name in ("input_tokens", "output_tokens", "cache_creation_input_tokens")
        )
        if self.pk is not None:
            ApiCharge.objects.filter(pk=self.pk).update(
                attempts=self.attempts,
                tokens=tokens,
                cost=model_catalogue.cost(usage, model or self.model),
                produced=produced,
                settled_at=timezone.now(),
            )
        self.settled = True

    def cancel(self) -> None:
        """Forget a charge whose call never started (a duplicate or busy turn)."""
        if self.pk is not None:
            ApiCharge.objects.filter(pk=self.pk).delete()
        self.settled = True


def note_attempt() -> None:
    """Called by the SDK middleware before every request it sends, retries included."""
    charge = _active.get()
    if charge is not None:
        charge.attempt()


@contextlib.contextmanager
def learner_lock(user) -> Iterator[None]:
    """Serialize one learner's reservations across threads and processes.

    On PostgreSQL the learner's row is locked; SQLite's IMMEDIATE transactions (see settings)
    already take the write lock when the transaction begins.
    """
    with transaction.atomic():
        LearnerAllowance.objects.select_for_update().get_or_create(user=user)
        yield


def reserve(user, source: str, *, model: str | None = None, free: bool = False) -> Charge:
    """Check every limit and record the charge in one step, or raise Refused.

    A `free` call (the offline tutor) costs nothing: it is neither limited nor recorded.
    """
    if source not in ApiCharge.Source.values:
        raise ValueError(f"unknown source {source!r}")
    if free:
        return Charge(None, source, remaining(user).messages_left, model)
    with learner_lock(user):
        state = remaining(user, source)
        if state.refusal is not None:
            raise state.refusal
        if ceiling := ceiling_refusal():
            raise ceiling
        row = ApiCharge.objects.create(user=user, source=source)
        LearnerAllowance.objects.filter(user=user).update(version=F("version") + 1)
    return Charge(row.pk, source, state.messages_left - 1, model)


@dataclass(frozen=True)
class Request:
    """One call to reserve among several (see `reserve_together`)."""

    user: Any
    model: str | None = None
    free: bool = False


class _Stale(Exception):
    """Another reservation came in for one of the learners between reading and claiming."""


def reserve_together(requests: list[Request], source: str = "tutor") -> list[Charge | Refused]:
    """What `reserve` does for each request, in a handful of statements for them all.

    Each learner's allowance is read without a lock, then claimed with one conditional UPDATE of
    the learners' rows that matches only where nobody reserved since the reading (the row count
    says whether every claim held). When one did not, the reading is undone and taken again; a
    learner refused gets the same Refused as `reserve` raises, and no charge.
    """
    if not requests:
        return []
    for _ in range(3):
        try:
            with transaction.atomic():  # a savepoint: a stale reading leaves nothing behind
                return _reserve_together(requests, source)
        except _Stale:
            continue
    return [_reserve_or_refusal(request, source) for request in requests]  # one by one, locked


def _reserve_or_refusal(request: Request, source: str) -> Charge | Refused:
    try:
        return reserve(request.user, source, model=request.model, free=request.free)
    except Refused as refused:
        return refused


def _reserve_together(requests: list[Request], source: str) -> list[Charge | Refused]:
    now = timezone.now()
    learners = {request.user.pk for request in requests}
    settle_abandoned(user__in=learners)
    rows = LearnerAllowance.objects.filter(user__in=learners)
    versions = dict(rows.values_list("user_id", "version"))
    if missing := learners - versions.keys():
        rows.bulk_create([LearnerAllowance(user_id=pk) for pk in missing], ignore_conflicts=True)
        versions |= dict(rows.filter(user__in=missing).values_list("user_id", "version"))
    recent: dict[int, list[tuple[datetime, int]]] = defaultdict(list)
    charges = ApiCharge.objects.filter(user__in=learners)
    for user_id, created_at, weight in (
        charges.filter(created_at__gt=now - BURST_WINDOW, source=source)
        .annotate(weight=Greatest("attempts", 1))
        .order_by("created_at")
        .values_list("user_id", "created_at", "weight")
    ):
        recent[user_id].append((created_at, weight))
    today = {
        row["user_id"]: (row["asked"], row["spent"] or 0)
        for row in charges.filter(created_at__gte=_start_of_day(now))
        .values("user_id")
        .annotate(asked=Count("pk", filter=~Q(produced=False)), spent=Sum("tokens"))
        .order_by()
    }
    ceiling = ceiling_refusal() if any(not request.free for request in requests) else None
    results: list[Charge | Refused] = []
    for request in requests:
        pk = request.user.pk
        asked, spent = today.get(pk, (0, 0))
        state = _allowance(source, recent[pk], asked, spent, now)
        if request.free:
            results.append(Charge(None, source, state.messages_left, request.model))
        elif refusal := state.refusal or ceiling:
            results.append(refusal)
        else:  # the learner's next request counts this one
            recent[pk].append((now, 1))
            today[pk] = (asked + 1, spent)
            results.append(Charge(None, source, state.messages_left - 1, request.model))
    reserved = [
        (request.user.pk, charge)
        for request, charge in zip(requests, results, strict=True)
        if isinstance(charge, Charge) and not request.free
    ]
    if not reserved:
        return results
    claimed = {pk for pk, _ in reserved}
    unchanged = functools.reduce(operator.or_, (Q(user=pk, version=versions[pk]) for pk in claimed))
    if LearnerAllowance.objects.filter(unchanged).update(version=F("version") + 1) < len(claimed):
        raise _Stale()
    saved = ApiCharge.objects.bulk_create(
        [ApiCharge(user_id=pk, source=source) for pk, _ in reserved]
    )
    for (_, charge), row in zip(reserved, saved, strict=True):
        charge.pk = row.pk
    return results


def settle_abandoned(**filters: Any) -> int:
    """Settle the charges whose process died mid-call: their tokens are unknown, so they give
    the day's question back. Runs on the learner's next call (see `remaining`)."""
    abandoned = ApiCharge.objects.filter(
        settled_at__isnull=True, created_at__lt=timezone.now() - ABANDONED_AFTER, **filters
    )
    if not abandoned.exists():  # a read: a page view takes no write lock for nothing
        return 0
    return abandoned.update(produced=False, settled_at=timezone.now())


def spent_today() -> Decimal:
    """What the whole site has spent on Claude since midnight UTC, tutor and sandbox together."""
    since = _start_of_day(timezone.now())
    total = ApiCharge.objects.filter(created_at__gte=since).aggregate(total=Sum("cost"))["total"]
    return total or Decimal(0)


def ceiling_refusal() -> CeilingReached | None:
    """The refusal every live call gets once the site's daily spend reaches its ceiling."""
    limit = settings.SITE_DAILY_SPEND_LIMIT
    if limit is None or spent_today() < limit:
        return None
    now = timezone.now()
    midnight = math.ceil((_start_of_day(now) + timedelta(days=1) - now).total_seconds())
    return CeilingReached(
        "The course has spent today's budget for Claude, so the tutor and the sandbox run "
        f"offline (from the lesson, and the simulator) until midnight UTC, in "
        f"{_duration(midnight)}.",
        midnight,
    )


def remaining(user, source: str = "tutor") -> Allowance:
    """What is left of the learner's allowance; the per-minute limit is `source`'s own."""
    now = timezone.now()
    settle_abandoned(user=user)
    charges = ApiCharge.objects.filter(user=user)
    # A charge weighs its attempts (at least one): an upstream that keeps failing costs each try.
    recent = list(
        charges.filter(created_at__gt=now - BURST_WINDOW, source=source)
        .annotate(weight=Greatest("attempts", 1))
        .order_by("created_at")
        .values_list("created_at", "weight")
    )
    today = charges.filter(created_at__gte=_start_of_day(now))
    used = today.aggregate(asked=Count("pk", filter=~Q(produced=False)), spent=Sum("tokens"))
    return _allowance(source, recent, used["asked"], used["spent"] or 0, now)


def _allowance(
    source: str, recent: list[tuple[datetime, int]], asked: int, spent: int, now: datetime
) -> Allowance:
    """The allowance left after the last minute's weighted charges (`recent`, oldest first) and
    today's questions and tokens."""
    burst_limit = _burst_limit(source)
    burst_used = sum(weight for _, weight in recent)
    resets_in = _burst_resets_in(recent, burst_used - burst_limit + 1, now)
    messages_left = max(0, settings.TUTOR_MESSAGES_PER_DAY - asked)
    tokens_left = max(0, settings.TUTOR_TOKENS_PER_DAY - spent)
    burst_left = max(0, burst_limit - burst_used)
    return Allowance(
        messages_left,
        tokens_left,
        burst_left,
        resets_in if burst_left == 0 else None,
        _refusal(source, messages_left, tokens_left, burst_left, resets_in, now),
    )


def _burst_limit(source: str) -> int:
    # Practice comes in runs a few seconds apart; a conversation, in questions a minute apart.
    if source == ApiCharge.Source.SANDBOX:
        return settings.SANDBOX_LIVE_RUNS_PER_MINUTE
    return settings.TUTOR_BURST_PER_MINUTE


def _refusal(
    source: str,
    messages_left: int,
    tokens_left: int,
    burst_left: int,
    resets_in: int | None,
    now: datetime,
) -> Refused | None:
    if burst_left == 0:
        wait, limit = resets_in or 1, _burst_limit(source)
        one, many = (
            ("live sandbox run", "live sandbox runs")
            if source == ApiCharge.Source.SANDBOX
            else ("request to Claude", "requests to Claude")
        )
        return Refused(
            f"That's {limit} {many if limit != 1 else one} in a minute, the most the course "
            f"takes. Try again in {wait} s.",
            wait,
        )
    midnight = math.ceil((_start_of_day(now) + timedelta(days=1) - now).total_seconds())
    if messages_left == 0:
        return Refused(
            f"You've used today's {settings.TUTOR_MESSAGES_PER_DAY} questions to Claude, the "
            f"daily limit. It resets at midnight UTC, in {_duration(midnight)}.",
            midnight,
        )
    if tokens_left == 0:
        return Refused(
            "You've used today's Claude budget. It resets at midnight UTC, in "
            f"{_duration(midnight)}.",
            midnight,
        )
    return None


def _burst_resets_in(recent: list[tuple[datetime, int]], excess: int, now: datetime) -> int | None:
    """Seconds until enough of the last minute's weight has aged out to allow one more call."""
    if excess <= 0:
        return None
    for created_at, weight in recent:
        excess -= weight
        if excess <= 0:
            return max(1, math.ceil((created_at + BURST_WINDOW - now).total_seconds()))
    return None


def _start_of_day(now: datetime) -> datetime:
    return now.replace(hour=0, minute=0, second=0, microsecond=0)


def _duration(seconds: int) -> str:
    hours, minutes = divmod(math.ceil(seconds / 60), 60)
    return f"{hours} h {minutes} min" if hours else f"{minutes} min"
