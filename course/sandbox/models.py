"""Attempts: every sandbox run a learner makes, what it sent and got back, and the verdict."""

from __future__ import annotations

import json
import re
from collections import defaultdict
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import F

KEY_RE = re.compile(r"sk-ant-[A-Za-z0-9_\-]+")
REDACTED = "[redacted]"


def redact(text: str) -> str:
    """Strip API keys: the site's own, and anything shaped like one a learner pasted."""
    key = getattr(settings, "ANTHROPIC_API_KEY", "")
    if key:
        text = text.replace(key, REDACTED)
    return KEY_RE.sub(REDACTED, text)


class AttemptQuerySet(models.QuerySet):
    def of(self, user) -> AttemptQuerySet:
        """The learner's finished runs: a pending one has no result yet (or never will)."""
        if not user.is_authenticated:
            return self.none()
        return self.filter(learner=user, pending=False)

    def passed_ids(self, user) -> dict[str, set[str]]:
        """Exercise ids each lesson's learner has passed, by lesson slug."""
        passed: dict[str, set[str]] = defaultdict(set)
        rows = self.of(user).filter(passed=True).exclude(exercise_id="")
        for slug, exercise_id in rows.values_list("lesson_slug", "exercise_id").distinct():
            passed[slug].add(exercise_id)
        return dict(passed)

    def graded(self) -> AttemptQuerySet:
        """Runs an answer came back for: what the statistics count."""
        return self.filter(refused_by_site=False, pending=False)

    def failures_before_pass(self, user, lesson_slug: str, exercise_id: str) -> int:
        return (
            self.of(user)
            .filter(lesson_slug=lesson_slug, exercise_id=exercise_id, passed=False)
            .count()
        )


class Attempt(models.Model):
    """One run. The request is stored as the learner wrote it, with any API key redacted."""

    learner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="sandbox_attempts"
    )
    lesson_slug = models.SlugField(max_length=100)
    exercise_id = models.CharField(max_length=100, blank=True, help_text="Empty: the playground.")
    request_text = models.TextField(help_text="The body as the learner wrote it.")
    request = models.JSONField(null=True, blank=True, help_text="The parsed body, if it parsed.")
    mode = models.CharField(max_length=10)  # simulator | live
    status = models.PositiveSmallIntegerField()
    result = models.JSONField(default=dict, help_text="Summary: stop reason, text, or the error.")
    usage = models.JSONField(default=dict)
    request_id = models.CharField(max_length=64, blank=True)
    ttft_ms = models.PositiveIntegerField(null=True, blank=True)
    total_ms = models.PositiveIntegerField(default=0)
    passed = models.BooleanField(null=True, help_text="Empty when there was nothing to grade.")
    refused_by_site = models.BooleanField(
        default=False,
        help_text="This site refused the run (invalid JSON, its limits) or no answer came back: "
        "it was not graded and the statistics leave it out.",
    )
    pending = models.BooleanField(
        default=False,
        help_text="A live run recorded before it went to Claude and not finished yet; one whose "
        "process died stays so. Grading, progress and the tutor leave it out.",
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    objects = AttemptQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["learner", "lesson_slug", "exercise_id"])]

    def __str__(self) -> str:
        where = self.exercise_id or "playground"
        return f"{self.learner} · {self.lesson_slug}/{where} · {self.status or 'pending'}"

    @classmethod
    def start(
        cls, *, learner, lesson_slug: str, exercise_id: str, body_text: str, body: Any
    ) -> int:
        """Record a live run before it goes upstream (nothing is billed that is not recorded);
        `record` completes it. Returns its pk."""
        return cls.objects.create(
            learner=learner,
            lesson_slug=lesson_slug,
            exercise_id=exercise_id,
            request_text=redact(body_text),
            request=_redacted(body),
            mode="live",
            status=0,
            pending=True,
        ).pk

    @classmethod
    def record(
        cls,
        *,
        learner,
        lesson_slug: str,
        exercise_id: str,
        body_text: str,
        body: Any,
        result: dict[str, Any],
        passed: bool | None,
        refused_by_site: bool = False,
        pending: int | None = None,
    ) -> Attempt:
        """Save a run from the runner's result dict, keys redacted and the text kept short;
        with `pending`, complete the attempt `start` recorded."""
        fields = {
            "learner": learner,
            "lesson_slug": lesson_slug,
            "exercise_id": exercise_id,
            "request_text": redact(body_text),
            "request": _redacted(body),
            "mode": result["mode"],
            "status": result["status"],
            "result": summarize(result),
            "usage": result.get("usage") or {},
            "request_id": result.get("request_id", ""),
            "ttft_ms": result.get("ttft_ms"),
            "total_ms": result.get("total_ms") or 0,
            "passed": passed,
            "refused_by_site": refused_by_site,
        }
        if pending is None:
            return cls.objects.create(**fields)
        cls.objects.filter(pk=pending).update(**fields, pending=False)
        return cls(pk=pending, **fields)


def _redacted(body: Any) -> dict | None:
    if not isinstance(body, dict):
        return None
    return json.loads(redact(json.dumps(body)))


def summarize(result: dict[str, Any]) -> dict[str, Any]:
    """What an attempt keeps of a result: enough for the tutor and the admin, not every event."""
    response, error = result.get("response"), result.get("error")
    summary: dict[str, Any] = {}
    if error:
        keep = ("type", "message", "status", "source")
        summary["error"] = {k: error[k] for k in keep if k in error}
    if response:
        text = "".join(
            b.get("text", "") for b in response.get("content", []) if b.get("type") == "text"
        )
        summary.update(
            stop_reason=response.get("stop_reason"),
            stop_sequence=response.get("stop_sequence"),
            text=redact(text[:2000]),
        )
    verdict = result.get("verdict")
    if verdict and verdict.get("graded", True):  # a run the site refused has no verdict to keep
        summary["verdict"] = {"passed": verdict["passed"], "message": verdict["message"]}
    return summary


class HintTrackQuerySet(models.QuerySet):
    def shown(self, user, lesson_slug: str) -> dict[str, int]:
        """How many hints the learner has seen, by exercise id, in one lesson."""
        if not user.is_authenticated:
            return {}
        rows = self.filter(learner=user, lesson_slug=lesson_slug)
        return dict(rows.values_list("exercise_id", "shown"))


class HintTrack(models.Model):
    """How many of an exercise's hints a learner has seen: "Show a hint" and each failed run
    reveal the next one, so the verdict and the list of hints count the same, across reloads."""

    learner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="sandbox_hints"
    )
    lesson_slug = models.SlugField(max_length=100)
    exercise_id = models.CharField(max_length=100)
    shown = models.PositiveSmallIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    objects = HintTrackQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["learner", "lesson_slug", "exercise_id"], name="one_hint_track"
            )
        ]

    def __str__(self) -> str:
        return f"{self.learner} · {self.lesson_slug}/{self.exercise_id} · {self.shown} hints"

    @classmethod
    def reveal_next(cls, learner, lesson_slug: str, exercise_id: str, total: int) -> int:
        """Reveal one more hint (at most `total`); return how many are shown now."""
        track, _ = cls.objects.get_or_create(
            learner=learner, lesson_slug=lesson_slug, exercise_id=exercise_id
        )
        # One UPDATE, so two tabs revealing at once each get a hint of their own.
        cls.objects.filter(pk=track.pk, shown__lt=total).update(shown=F("shown") + 1)
        track.refresh_from_db(fields=["shown"])
        return track.shown
