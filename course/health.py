"""/healthz: can this process reach its database and its channel layer right now?

It is answered by a middleware at the top of the stack rather than a view behind it: a load
balancer or monitor probes each daphne process on its own address, which is not in
ALLOWED_HOSTS and speaks plain HTTP, so the host check and SECURE_SSL_REDIRECT must not apply;
and a probe every few seconds should cost no session, CSRF token or template.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Awaitable, Callable
from inspect import iscoroutinefunction

from asgiref.sync import async_to_sync, sync_to_async
from channels.layers import get_channel_layer
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.decorators import sync_and_async_middleware

PATH = "/healthz"
# Each check gives up after this long: a probe must answer quickly even when a backend hangs.
TIMEOUT_SECONDS = 2.0

logger = logging.getLogger(__name__)


def _query_database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


async def _database() -> None:
    await sync_to_async(_query_database)()


async def _channel_layer() -> None:
    # A private channel of this process: the round trip goes through the same backend (Redis
    # with several processes) that carries the tutor's events, and touches no other channel.
    layer = get_channel_layer()
    channel = await layer.new_channel()
    token = secrets.token_hex(8)
    await layer.send(channel, {"type": "healthz.ping", "token": token})
    message = await layer.receive(channel)
    if message.get("token") != token:
        raise RuntimeError("the channel layer returned another message")


async def _outcome(name: str, check: Callable[[], Awaitable[None]]) -> str:
    try:
        await asyncio.wait_for(check(), TIMEOUT_SECONDS)
    except TimeoutError:
        logger.warning("Health check: %s gave no answer within %s s", name, TIMEOUT_SECONDS)
        return "timeout"
    except Exception:
        # The reason goes to the log only: the endpoint is public and errors name hosts.
        logger.warning("Health check: %s failed", name, exc_info=True)
        return "error"
    return "ok"


async def health_response(request: HttpRequest) -> HttpResponse:
    if request.method not in ("GET", "HEAD"):
        response = JsonResponse({"error": "use GET"}, status=405)
        response["Allow"] = "GET, HEAD"
        return response
    database, channel_layer = await asyncio.gather(
        _outcome("the database", _database), _outcome("the channel layer", _channel_layer)
    )
    checks = {"database": database, "channel_layer": channel_layer}
    healthy = all(state == "ok" for state in checks.values())
    response = JsonResponse(
        {"status": "ok" if healthy else "unavailable", "checks": checks},
        status=200 if healthy else 503,
    )
    response["Cache-Control"] = "no-store"
    return response


@sync_and_async_middleware
def health_check_middleware(get_response: Callable) -> Callable:
    """Answer /healthz before any other middleware runs; pass every other request on."""
    if iscoroutinefunction(get_response):

        async def middleware(request: HttpRequest) -> HttpResponse:
            if request.path == PATH:
                return await health_response(request)
            return await get_response(request)

    else:

        def middleware(request: HttpRequest) -> HttpResponse:
            if request.path == PATH:
                return async_to_sync(health_response)(request)
            return get_response(request)

    return middleware
