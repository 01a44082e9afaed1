from __future__ import annotations

from django.contrib.auth.decorators import login_required, permission_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from course.lessons import catalogue
from tutor import instructor

# Anonymous visitors are sent to log in; signed-in users without the permission get a 403.
instructors_only = permission_required("tutor.preview_lessons", raise_exception=True)


@require_GET
@login_required
@instructors_only
def instructor_index(request: HttpRequest) -> HttpResponse:
    context = instructor.overview(catalogue().lessons)
    return render(request, "tutor/instructor/index.html", context)


@require_GET
@login_required
@instructors_only
def instructor_preview(request: HttpRequest, slug: str) -> HttpResponse:
    lesson = catalogue().get(slug)
    if lesson is None:
        raise Http404("There is no lesson at this address.")
    return render(request, "tutor/instructor/preview.html", instructor.preview(lesson))
