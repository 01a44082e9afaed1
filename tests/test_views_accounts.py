from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from tests.conftest import make_user

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
