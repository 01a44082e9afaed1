from __future__ import annotations

from django.urls import path

from tutor import views

urlpatterns = [
    path("lessons/<slug:slug>/tutor/new/", views.new_conversation, name="tutor_new"),
    path("tutor/replies/<int:message_id>/api-call/", views.api_call, name="tutor_api_call"),
]
