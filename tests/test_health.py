from __future__ import annotations

import logging
import socket

import pytest
from django.db import connections
from django.test import AsyncClient

REDIS = "redis://127.0.0.1:6379/11"
MISSING_DATABASE = "/no-such-directory/course"


def redis_layer(url: str) -> dict:
    return {
        "default": {"BACKEND": "channels_redis.core.RedisChannelLayer", "CONFIG": {"hosts": [url]}}
    }


def redis_up() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=0.5):
            return True
    except OSError:
        return False


@pytest.mark.django_db
def test_it_reports_ok_when_the_database_and_the_channel_layer_answer(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "checks": {"database": "ok", "channel_layer": "ok"},
    }
    assert response["Cache-Control"] == "no-store"
    assert "sessionid" not in response.cookies and "csrftoken" not in response.cookies


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_it_answers_on_the_asgi_path_too():
    response = await AsyncClient().get("/healthz")
    assert response.status_code == 200
    assert response.json()["checks"] == {"database": "ok", "channel_layer": "ok"}


@pytest.mark.django_db
@pytest.mark.skipif(not redis_up(), reason="needs Redis on 127.0.0.1:6379 (.ci/run starts it)")
def test_it_round_trips_through_a_real_redis_channel_layer(client, settings):
    settings.CHANNEL_LAYERS = redis_layer(REDIS)
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json()["checks"]["channel_layer"] == "ok"


@pytest.mark.django_db
def test_it_answers_a_probe_on_a_process_address_over_plain_http(client, settings):
    # Monitors probe each daphne process directly: not a public host name, not HTTPS.
    settings.ALLOWED_HOSTS = ["course.example.com"]
    settings.SECURE_SSL_REDIRECT = True
    response = client.get("/healthz", HTTP_HOST="10.0.0.7:8001")
    assert response.status_code == 200
    assert client.get("/", HTTP_HOST="10.0.0.7:8001").status_code == 400  # the rest still checks


@pytest.mark.django_db
def test_it_names_the_database_when_the_database_cannot_be_reached(client, caplog):
    default = connections["default"]
    # The same backend, pointed at a database that does not exist (a file in a missing
    # directory for SQLite, an unknown database name for PostgreSQL).
    broken = connections.create_connection("default")
    broken.settings_dict = {**default.settings_dict, "NAME": MISSING_DATABASE}
    # PostgreSQL's pools are kept per alias: under its own, the broken connection gets a pool of
    # its own instead of the working one.
    broken.alias = "unreachable"
    if broken.vendor == "postgresql":  # its pool gives up within the health check's deadline
        options = broken.settings_dict["OPTIONS"]
        pool = {**options["pool"], "timeout": 1}
        broken.settings_dict = {**broken.settings_dict, "OPTIONS": {**options, "pool": pool}}
    connections["default"] = broken
    try:
        with caplog.at_level(logging.WARNING, logger="course.health"):
            response = client.get("/healthz")
    finally:
        connections["default"] = default
        broken.close()
        if broken.vendor == "postgresql":
            broken.close_pool()
    assert response.status_code == 503
    assert response.json() == {
        "status": "unavailable",
        "checks": {"database": "error", "channel_layer": "ok"},
    }
    failure = next(r for r in caplog.records if "the database failed" in r.getMessage())
    assert type(failure.exc_info[1]).__name__ == "OperationalError"
    assert "no-such-directory" not in response.content.decode()  # the reason stays in the log


@pytest.mark.django_db
def test_it_names_the_channel_layer_when_redis_cannot_be_reached(client, settings, caplog):
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings.CHANNEL_LAYERS = redis_layer(f"redis://127.0.0.1:{port}/11")
    with caplog.at_level(logging.WARNING, logger="course.health"):
        response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json() == {
        "status": "unavailable",
        "checks": {"database": "ok", "channel_layer": "error"},
    }
    assert any("the channel layer failed" in r.getMessage() for r in caplog.records)


@pytest.mark.django_db
def test_it_refuses_anything_but_get(client):
    response = client.post("/healthz")
    assert response.status_code == 405
    assert response["Allow"] == "GET, HEAD"
