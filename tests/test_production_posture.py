"""Production settings: deploy checks, security headers, static files, log-in throttling."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.site_process import ROOT, site_env
from tests.users import make_user

# The environment README's "Running in production" documents (with a throwaway secret).
PRODUCTION = {
    "DEBUG": "false",
    "SECRET_KEY": "k" * 20 + "-a-long-random-production-secret-0123456789",
    "ALLOWED_HOSTS": "course.example.com",
    "CSRF_TRUSTED_ORIGINS": "https://course.example.com",
    "SECURE_COOKIES": "true",
    "BEHIND_HTTPS_PROXY": "true",
    "SECURE_SSL_REDIRECT": "true",
    "SECURE_HSTS_SECONDS": "31536000",
}


def manage(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True
    )


def test_the_documented_production_environment_passes_the_deploy_check(tmp_path):
    result = manage(site_env(tmp_path, **PRODUCTION), "check", "--deploy", "--fail-level", "INFO")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_daphne_refuses_to_start_without_collected_static_files_and_says_why(tmp_path):
    env = site_env(tmp_path, **PRODUCTION)
    result = subprocess.run(
        [sys.executable, "-c", "import course.asgi"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0
    assert "static files are not collected" in result.stderr
    assert "make serve" in result.stderr


def test_every_page_carries_a_strict_content_security_policy(client):
    policy = client.get("/", HTTP_HOST="localhost")["Content-Security-Policy"]
    directives = dict(part.strip().split(" ", 1) for part in policy.split(";") if part.strip())
    assert directives["script-src"] == "'self'"
    assert directives["style-src"].startswith("'self' 'nonce-")
    assert directives["connect-src"] == "'self'"
    assert directives["object-src"] == "'none'" and directives["frame-ancestors"] == "'none'"
    # Only style attributes may be inline (the editor positions itself with them): never a
    # script, and never a <style> element without the nonce.
    assert directives.pop("style-src-attr") == "'unsafe-inline'"
    assert not any("unsafe" in value for value in directives.values())


def test_the_nonce_in_the_page_matches_the_policy(client):
    response = client.get("/", HTTP_HOST="localhost")
    nonce = response.content.decode().split('<meta name="csp-nonce" content="')[1].split('"')[0]
    assert f"'nonce-{nonce}'" in response["Content-Security-Policy"]


@pytest.mark.django_db
def test_repeated_wrong_passwords_pause_log_in_with_a_clear_message(client, settings):
    settings.AXES_FAILURE_LIMIT = 3
    make_user("ada", "correct horse battery")
    for _ in range(2):
        response = client.post("/accounts/login/", {"username": "ada", "password": "wrong guess"})
        assert response.status_code == 200
        assert "Please enter a correct username and password" in response.content.decode()
    locked = client.post("/accounts/login/", {"username": "ada", "password": "wrong guess"})
    assert locked.status_code == 429
    page = locked.content.decode()
    assert "Log-in paused" in page and "3 wrong passwords in a row" in page
    assert "paused for 15 minutes" in page
    # While paused, even the right password is refused: guessing cannot go on.
    right = client.post(
        "/accounts/login/", {"username": "ada", "password": "correct horse battery"}
    )
    assert right.status_code == 429
    assert "_auth_user_id" not in client.session


@pytest.mark.django_db
def test_a_successful_log_in_resets_the_count_of_wrong_passwords(client, settings):
    settings.AXES_FAILURE_LIMIT = 3
    make_user("ada", "correct horse battery")
    for _ in range(2):
        client.post("/accounts/login/", {"username": "ada", "password": "wrong guess"})
    client.post("/accounts/login/", {"username": "ada", "password": "correct horse battery"})
    client.post("/accounts/logout/")
    for _ in range(2):
        response = client.post("/accounts/login/", {"username": "ada", "password": "wrong"})
        assert response.status_code == 200


@pytest.mark.django_db
def test_another_learner_is_not_locked_out_by_someone_guessing_ada(client, settings):
    settings.AXES_FAILURE_LIMIT = 2
    make_user("ada", "correct horse battery")
    make_user("grace", "another good pass phrase")
    for _ in range(2):
        client.post("/accounts/login/", {"username": "ada", "password": "wrong guess"})
    response = client.post(
        "/accounts/login/", {"username": "grace", "password": "another good pass phrase"}
    )
    assert response.status_code == 302


def test_the_500_page_keeps_its_inline_style_under_the_policy(rf):
    from csp.middleware import CSPMiddleware

    from course.views import server_error

    response = CSPMiddleware(server_error)(rf.get("/"))
    assert response.status_code == 500 and b"<style>" in response.content
    assert "style-src 'self' 'unsafe-inline'" in response["Content-Security-Policy"]
    assert "script-src 'self'" in response["Content-Security-Policy"]
