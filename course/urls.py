from __future__ import annotations

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from course import views

# /healthz is answered by course.health.health_check_middleware, ahead of every other middleware.
urlpatterns = [
    path("", views.home, name="home"),
    path("lessons/files/<str:name>", views.lesson_file_download, name="lesson_file"),
    path("lessons/<slug:slug>/", views.lesson_detail, name="lesson"),
    path("lessons/<slug:slug>/quiz/<int:number>/", views.quiz_answer, name="quiz_answer"),
    path("lessons/<slug:slug>/complete/", views.lesson_complete, name="lesson_complete"),
    path("accounts/signup/", views.signup, name="signup"),
    path(
        "accounts/login/",
        auth_views.LoginView.as_view(redirect_authenticated_user=True),
        name="login",
    ),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("", include("course.sandbox.urls")),
    path("", include("tutor.urls")),
    path("admin/", admin.site.urls),
]
handler500 = "course.views.server_error"
