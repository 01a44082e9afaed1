"""Create benchmark learners and signed-in sessions; print {username: sessionid} as JSON.

Run as a subprocess with the site's environment (same DATABASE_URL, same SECRET_KEY), so the
sessions are valid for the daphne process under test:

    python -m bench.learners bench-s50 50 bench-s200 200

Passwords are left unusable on purpose: hashing 250 PBKDF2 passwords would take minutes and
the benchmark never logs in through the form. The session holds the same three keys that
django.contrib.auth.login() writes, so AuthMiddlewareStack treats the socket as signed in.
"""

from __future__ import annotations

import json
import os
import sys


def main(argv: list[str]) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "course.settings")
    import django

    django.setup()
    from django.contrib.auth import (
        BACKEND_SESSION_KEY,
        HASH_SESSION_KEY,
        SESSION_KEY,
        get_user_model,
    )
    from django.contrib.sessions.backends.db import SessionStore

    user_model = get_user_model()
    cookies: dict[str, str] = {}
    for prefix, count in zip(argv[::2], argv[1::2], strict=True):
        for i in range(int(count)):
            username = f"{prefix}-{i:04d}"
            user, _ = user_model.objects.get_or_create(username=username)
            if user.has_usable_password() or not user.password:
                user.set_unusable_password()
                user.save(update_fields=["password"])
            session = SessionStore()
            session[SESSION_KEY] = str(user.pk)
            session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
            session[HASH_SESSION_KEY] = user.get_session_auth_hash()
            session.create()
            cookies[username] = session.session_key
    json.dump(cookies, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main(sys.argv[1:])
