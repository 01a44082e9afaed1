from __future__ import annotations

from django.contrib.auth.forms import UserCreationForm


class SignUpForm(UserCreationForm):
    """Username and password: all a learner needs to keep their progress and tutor history."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["username"].help_text = "Letters, digits and @ . + - _ only."
        self.fields["username"].widget.attrs.update({"autocomplete": "username", "autofocus": True})
        self.fields[
            "password1"
        ].help_text = "At least 8 characters, not all digits, and not a common password."
        for name in ("password1", "password2"):
            self.fields[name].widget.attrs["autocomplete"] = "new-password"
