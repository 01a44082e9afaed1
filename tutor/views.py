from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from course.lessons import catalogue
from tutor.api_call import describe
from tutor.models import Conversation, Message


@require_POST
@login_required
def new_conversation(request: HttpRequest, slug: str) -> HttpResponse:
    if catalogue().get(slug) is None:
        raise Http404("There is no lesson at this address.")
    Conversation.objects.current_for(request.user, slug).start_new()
    return redirect(reverse("lesson", args=[slug]) + "#tutor")


@require_GET
@login_required
def api_call(request: HttpRequest, message_id: int) -> HttpResponse:
    # Looked up through the learner: another learner's reply is a 404, not a 403.
    reply = get_object_or_404(
        Message, pk=message_id, role=Message.Role.ASSISTANT, conversation__user=request.user
    )
    return render(request, "tutor/_api_call.html", describe(reply))
