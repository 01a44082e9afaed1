"""ASGI entry point: Django for HTTP, Channels for the tutor's websocket."""

from __future__ import annotations

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "course.settings")
# Django must be set up before anything imports models (the tutor's consumer does).
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from course.checks import require_collected_static  # noqa: E402
from tutor import drain  # noqa: E402
from tutor.consumers import SameOrigin  # noqa: E402
from tutor.routing import websocket_urlpatterns  # noqa: E402

# Fail at start-up with a sentence, rather than with a 500 on every page.
require_collected_static()
# SIGTERM lets the replies being written finish (or saves them as interrupted) before exiting.
drain.install()

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": SameOrigin(AuthMiddlewareStack(URLRouter(websocket_urlpatterns))),
    }
)
