from __future__ import annotations

from django.urls import path

from tutor import views

urlpatterns = [
    path("lessons/<slug:slug>/tutor/new/", views.new_conversation, name="tutor_new"),
    path(
        "tutor/conversations/<int:conversation_id>/",
        views.past_conversation,
        name="tutor_conversation",
    ),
    path(
        "tutor/conversations/<int:conversation_id>/reopen/",
        views.reopen_conversation,
        name="tutor_reopen",
    ),
    path("tutor/replies/<int:message_id>/api-call/", views.api_call, name="tutor_api_call"),
    path("tutor/replies/<int:message_id>/feedback/", views.feedback, name="tutor_feedback"),
]

urlpatterns += [
    path("instructor/lessons/", views.instructor_index, name="instructor_index"),
    path(
        "instructor/lessons/<slug:slug>/",
        views.instructor_preview,
        name="instructor_preview",
    ),
]
