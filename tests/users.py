from __future__ import annotations

from django.contrib.auth import get_user_model


def make_user(username: str = "ada", password: str = "correct horse battery") -> object:
    return get_user_model().objects.create_user(username=username, password=password)
