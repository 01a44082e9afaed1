from __future__ import annotations

from django.urls import path

from tutor.consumers import TutorConsumer

websocket_urlpatterns = [
    path("ws/tutor/<slug:slug>/", TutorConsumer.as_asgi()),
]
