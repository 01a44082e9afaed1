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
