"""Learners' thumbs up or down on the tutor's finished replies."""

from __future__ import annotations

from django import forms
from django.contrib.auth.base_user import AbstractBaseUser
from django.shortcuts import get_object_or_404

from tutor.models import Feedback, Message

COMMENT_MAX_CHARS = 1000


def reply_or_404(user: AbstractBaseUser, message_id: int) -> Message:
    # Looked up through the learner: another learner's reply is a 404, not a 403.
    replies = (
        Message.objects.filter(role=Message.Role.ASSISTANT, conversation__user=user)
        .exclude(status=Message.Status.STREAMING)
        .exclude(text="")
        .select_related("conversation", "feedback")
    )
    return get_object_or_404(replies, pk=message_id)


def accepts_feedback(message: Message) -> bool:
    """A finished reply with something in it to rate; the same rule as `reply_or_404`."""
    return message.is_assistant and not message.is_streaming and bool(message.text)


def saved_feedback(message: Message) -> Feedback | None:
    try:
        return message.feedback
    except Feedback.DoesNotExist:
        return None


class FeedbackForm(forms.Form):
    rating = forms.ChoiceField(
        choices=Feedback.Rating.choices,
        error_messages={
            "required": "Choose Helpful or Not helpful.",
            "invalid_choice": "That is not a rating: choose Helpful or Not helpful.",
        },
    )
    reason = forms.ChoiceField(
        choices=Feedback.Reason.choices,
        required=False,
        error_messages={
            "invalid_choice": "That is not one of the reasons: pick one from the list."
        },
    )
    comment = forms.CharField(
        required=False,
        max_length=COMMENT_MAX_CHARS,
        error_messages={
            "max_length": "Keep the comment to %(limit_value)d characters (it has %(show_value)d)."
        },
    )

    @property
    def has_details(self) -> bool:
        # The reason form always sends its comment box; the thumbs send only a rating.
        return "reason" in self.data or "comment" in self.data

    def error(self) -> str:
        return next(iter(self.errors.values()))[0]

    def save(self, reply: Message) -> Feedback:
        values = {"rating": self.cleaned_data["rating"]}
        if values["rating"] == Feedback.Rating.UP:
            values |= {"reason": "", "comment": ""}
        elif self.has_details:  # a bare thumbs down keeps the reason already given
            values |= {
                "reason": self.cleaned_data["reason"],
                "comment": self.cleaned_data["comment"],
            }
        feedback, _ = Feedback.objects.update_or_create(message=reply, defaults=values)
        return feedback

    def draft(self, saved: Feedback | None) -> Feedback | None:
        """What the widget shows after a refused post: the saved rating and what was typed."""
        if not self.has_details:
            return saved
        return Feedback(
            rating=saved.rating if saved else "",
            reason=self.data.get("reason", ""),
            comment=self.data.get("comment", ""),
        )
