from __future__ import annotations

from django.conf import settings
from django.db import models


class LessonCompletion(models.Model):
    """A signed-in learner marked a lesson complete."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="completions"
    )
    lesson_slug = models.SlugField(max_length=100)
    completed_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["user", "lesson_slug"], name="one_completion_per_lesson"
            )
        ]

    def __str__(self) -> str:
        return f"{self.user} completed {self.lesson_slug}"


class QuizAnswer(models.Model):
    """A signed-in learner's latest answer to one knowledge-check question."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="quiz_answers"
    )
    lesson_slug = models.SlugField(max_length=100)
    question_key = models.CharField(max_length=40)
    choice = models.CharField(max_length=20)
    correct = models.BooleanField()
    answered_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["user", "lesson_slug", "question_key"], name="one_answer_per_question"
            )
        ]

    def __str__(self) -> str:
        return f"{self.user} answered {self.lesson_slug}/{self.question_key}: {self.choice}"


class LearnerAllowance(models.Model):
    """One row per learner, locked while a charge is reserved so that reservations queue up."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, primary_key=True, related_name="+"
    )
    # Raised by every reservation: questions started together (tutor/turn_starts.py) read the
    # allowance without locking, then claim it only if nobody reserved since (see allowance).
    version = models.PositiveBigIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.user}'s allowance"


class ApiCharge(models.Model):
    """One reservation against a learner's allowance: a tutor question or a sandbox run."""

    class Source(models.TextChoices):
        TUTOR = "tutor", "Tutor"
        SANDBOX = "sandbox", "Sandbox"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_charges"
    )
    source = models.CharField(max_length=10, choices=Source.choices)
    created_at = models.DateTimeField(auto_now_add=True)
    # Upstream attempts, the SDK's own retries included; each counts toward the burst limit.
    attempts = models.PositiveIntegerField(default=0)
    tokens = models.PositiveIntegerField(default=0)  # input, output and cache writes
    # Dollars, at lessons/models.yaml's prices (course/model_catalogue.py); summed for the ceiling.
    cost = models.DecimalField(max_digits=18, decimal_places=10, default=0)
    # None while the call runs; False when it failed before any text (no question used).
    produced = models.BooleanField(null=True, default=None)
    settled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["user", "created_at"], name="api_charge_user_time"),
            models.Index(fields=["created_at"], name="api_charge_time"),
        ]

    def __str__(self) -> str:
        return f"{self.source} charge #{self.pk} for {self.user}"


class LessonSnapshot(models.Model):
    """The last version of a lesson file that parsed, so a restart can still serve it."""

    file_name = models.CharField(max_length=200, unique=True)
    sha256 = models.CharField(max_length=64)
    source = models.TextField()
    saved_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"last good {self.file_name} ({self.saved_at:%Y-%m-%d %H:%M})"
