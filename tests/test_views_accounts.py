from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.test import Client

from tests.users import make_user

pytestmark = pytest.mark.django_db


def test_the_sign_up_page_is_a_short_friendly_form(client):
    html = client.get("/accounts/signup/").content.decode()
    assert "Create your account" in html
    assert 'name="username"' in html and 'name="password1"' in html and 'name="password2"' in html
    assert 'name="email"' not in html


def test_sign_up_creates_an_account_logs_in_and_follows_next(client):
    response = client.post(
        "/accounts/signup/",
        {
            "username": "newbie",
            "password1": "a long pass phrase",
            "password2": "a long pass phrase",
            "next": "/lessons/messages-api/",
        },
    )
    assert response.status_code == 302 and response["Location"] == "/lessons/messages-api/"
    assert get_user_model().objects.filter(username="newbie").exists()
    assert "Signed in as" in client.get("/").content.decode()


def test_sign_up_refuses_an_outside_next_url(client):
    response = client.post(
        "/accounts/signup/",
        {
            "username": "newbie",
            "password1": "a long pass phrase",
            "password2": "a long pass phrase",
            "next": "https://evil.example/",
        },
    )
    assert response["Location"] == "/"


def test_sign_up_shows_clear_errors_and_keeps_the_username(client):
    make_user("taken")
    response = client.post(
        "/accounts/signup/", {"username": "taken", "password1": "abc", "password2": "abd"}
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert "A user with that username already exists." in html
    assert "The two password fields didn’t match." in html
    assert 'value="taken"' in html


def test_log_in_and_log_out(client):
    make_user()
    response = client.post(
        "/accounts/login/", {"username": "ada", "password": "correct horse battery"}
    )
    assert response.status_code == 302
    assert "Signed in as" in client.get("/").content.decode()
    assert client.post("/accounts/logout/").status_code == 302
    assert "Log in" in client.get("/").content.decode()


def test_a_wrong_password_is_a_clear_error(client):
    make_user()
    html = client.post("/accounts/login/", {"username": "ada", "password": "nope"}).content.decode()
    assert "Please enter a correct username and password" in html


def sign_up(client, username: str, address: str = "203.0.113.7"):
    return client.post(
        "/accounts/signup/",
        {
            "username": username,
            "password1": "a long pass phrase",
            "password2": "a long pass phrase",
        },
        REMOTE_ADDR=address,
    )


def test_sign_up_is_throttled_per_address(settings):
    settings.SIGNUPS_PER_HOUR = 3
    cache.clear()
    for number in range(3):
        assert sign_up(Client(), f"learner-{number}").status_code == 302
    refused = sign_up(Client(), "one-too-many")
    assert refused.status_code == 429
    assert "3 accounts were created from your connection" in refused.content.decode()
    assert not get_user_model().objects.filter(username="one-too-many").exists()
    assert sign_up(Client(), "elsewhere", address="198.51.100.2").status_code == 302
    cache.clear()


def test_a_refused_sign_up_with_errors_shows_the_errors_and_costs_no_allowance(settings):
    settings.SIGNUPS_PER_HOUR = 1
    cache.clear()
    client = Client()
    mismatch = client.post(
        "/accounts/signup/",
        {"username": "typo", "password1": "a long pass phrase", "password2": "a long pass phrasf"},
        REMOTE_ADDR="203.0.113.7",
    )
    assert mismatch.status_code == 200  # a form with errors creates nothing and counts nothing
    assert sign_up(client, "typo").status_code == 302
    cache.clear()


def test_wrong_passwords_for_many_usernames_from_one_address_lock_that_address(settings):
    settings.AXES_FAILURE_LIMIT = 4
    settings.LOGIN_ADDRESS_FAILURE_LIMIT = 12
    make_user("ada", "correct horse battery")
    client = Client(REMOTE_ADDR="203.0.113.9")
    statuses = [
        client.post(
            "/accounts/login/", {"username": f"guess-{n // 3}", "password": "x"}
        ).status_code
        for n in range(15)  # three tries for each of five usernames: under the per-name limit
    ]
    assert statuses[:11] == [200] * 11 and set(statuses[11:]) == {429}
    right = client.post(
        "/accounts/login/", {"username": "ada", "password": "correct horse battery"}
    )
    assert right.status_code == 429
    other = Client(REMOTE_ADDR="198.51.100.3")
    ok = other.post("/accounts/login/", {"username": "ada", "password": "correct horse battery"})
    assert ok.status_code == 302
