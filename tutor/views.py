from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import dateformat
from django.views.decorators.http import require_GET, require_POST

from course.lessons import catalogue
from course.views import HtmxHttpRequest
from tutor import generation
from tutor.api_call import describe
from tutor.feedback import FeedbackForm, reply_or_404, saved_feedback
from tutor.models import Busy, Conversation, Message


@require_POST
@login_required
def new_conversation(request: HttpRequest, slug: str) -> HttpResponse:
    if catalogue().get(slug) is None:
        raise Http404("There is no lesson at this address.")
    if not Conversation.objects.start_new_within_limit(request.user, slug):
        limit = settings.TUTOR_NEW_CONVERSATIONS_PER_HOUR
        messages.error(
            request,
            f"You've started {limit} new conversations in the last hour, the most the tutor "
            "allows. Keep going in this one, or start a new one later.",
        )
    return redirect(reverse("lesson", args=[slug]) + "#tutor")


@require_GET
@login_required
def past_conversation(request: HttpRequest, conversation_id: int) -> HttpResponse:
    # Looked up through the learner: another learner's conversation is a 404.
    conversation = get_object_or_404(Conversation, pk=conversation_id, user=request.user)
    context = {
        "conversation": conversation,
        "lesson": catalogue().get(conversation.lesson_slug),
        "transcript": conversation.shown_messages(),
    }
    return render(request, "tutor/conversation.html", context)


@require_POST
@login_required
def reopen_conversation(request: HttpRequest, conversation_id: int) -> HttpResponse:
    conversation = get_object_or_404(Conversation, pk=conversation_id, user=request.user)
    if catalogue().get(conversation.lesson_slug) is None:
        raise Http404("There is no lesson at this address.")
    try:
        conversation.reopen(generation.live_writers())
    except Busy:
        messages.error(
            request,
            "The tutor is still answering in your current conversation. Wait for the reply to "
            "finish (or press Stop in the tutor), then reopen this one.",
        )
        return redirect("tutor_conversation", conversation.pk)
    started = dateformat.format(conversation.created_at, "j M Y")
    messages.success(request, f"Reopened your conversation from {started}.")
    return redirect(reverse("lesson", args=[conversation.lesson_slug]) + "#tutor")


@require_GET
@login_required
def api_call(request: HttpRequest, message_id: int) -> HttpResponse:
    # Looked up through the learner: another learner's reply is a 404, not a 403.
    reply = get_object_or_404(
        Message, pk=message_id, role=Message.Role.ASSISTANT, conversation__user=request.user
    )
    return render(request, "tutor/_api_call.html", describe(reply))


@require_POST
@login_required
def feedback(request: HtmxHttpRequest, message_id: int) -> HttpResponse:
    reply = reply_or_404(request.user, message_id)
    form = FeedbackForm(request.POST)
    if not form.is_valid():
        context = {
            "message": reply,
            "feedback": form.draft(saved_feedback(reply)),
            "error": form.error(),
        }
        template = "tutor/_feedback.html" if request.htmx else "tutor/feedback.html"
        return render(request, template, context, status=422)
    saved = form.save(reply)
    if not request.htmx:
        lesson_url = reverse("lesson", args=[reply.conversation.lesson_slug])
        return redirect(f"{lesson_url}#msg-{reply.pk}")
    return render(request, "tutor/_feedback.html", {"message": reply, "feedback": saved})
