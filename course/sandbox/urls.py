from __future__ import annotations

from django.urls import path

from course.sandbox import views

urlpatterns = [
    path("lessons/<slug:slug>/sandbox/run/", views.sandbox_run, name="sandbox_run"),
    path("lessons/<slug:slug>/sandbox/stream/", views.sandbox_stream, name="sandbox_stream"),
    path("lessons/<slug:slug>/sandbox/code/", views.sandbox_code, name="sandbox_code"),
    path("lessons/<slug:slug>/sandbox/hint/", views.sandbox_hint, name="sandbox_hint"),
]
