from __future__ import annotations

from django.apps import AppConfig


class CourseConfig(AppConfig):
    name = "course"

    def ready(self) -> None:
        from django.contrib.auth.signals import user_logged_in
        from django.core import checks

        from course.checks import check_lessons
        from course.progress import carry_over

        def carry_over_progress(sender, request, user, **kwargs) -> None:
            if request is not None and hasattr(request, "session"):
                carry_over(request.session, user)

        user_logged_in.connect(carry_over_progress, dispatch_uid="course.carry_over_progress")
        checks.register(check_lessons, "lessons")
