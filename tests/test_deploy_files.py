"""The shipped deployment files agree with the README and the settings they configure."""

from __future__ import annotations

import re
import subprocess
import sys

from tests.site_process import ROOT

ENV_EXAMPLE = ROOT / "deploy" / "course.env.example"


def example_env() -> dict[str, str]:
    """The template as systemd reads it, commented-out lines included as unset."""
    values = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        match = re.match(r"^#?([A-Z][A-Z0-9_]*)=(.*)$", line)
        if match and not line.startswith("#"):
            values[match.group(1)] = match.group(2)
    return values


def test_the_environment_template_names_every_variable_the_readme_documents():
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Configuration")[1].split("\n## ")[0]
    first_cells = [line.split("|")[1] for line in section.splitlines() if line.startswith("| `")]
    documented = {name for cell in first_cells for name in re.findall(r"`([A-Z0-9_]+)`", cell)}
    assert "ANTHROPIC_API_KEY" in documented
    template = ENV_EXAMPLE.read_text()
    named = set(re.findall(r"^#?([A-Z][A-Z0-9_]*)=", template, re.M))
    assert documented - named == set()


def test_the_environment_template_is_production_ready_for_the_settings(tmp_path):
    env = example_env()
    assert env["DEBUG"] == "false" and env["SECURE_COOKIES"] == "true"
    assert env["DATABASE_URL"].startswith("postgres://") and env["REDIS_URL"].startswith("redis://")
    # The settings accept every value (a malformed boolean or number stops them loading).
    env |= {"SECRET_KEY": "x" * 60, "STATIC_ROOT": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy"],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "DJANGO_SETTINGS_MODULE": "course.settings", **env},
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr


def test_nginx_serves_static_files_from_the_templates_static_root():
    site = (ROOT / "deploy" / "nginx" / "course.conf").read_text()
    assert f"alias {example_env()['STATIC_ROOT']}/;" in site


def channel_layer_prefix(database_url: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", "from course import settings; print(settings.CHANNEL_LAYERS"
         "['default']['CONFIG']['prefix'])"],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "REDIS_URL": "redis://127.0.0.1:6379/0",
             "DATABASE_URL": database_url},
        capture_output=True,
        text=True,
        check=True,
    )  # fmt: skip
    return done.stdout.strip()


def test_two_sites_on_one_redis_keep_their_channel_layers_apart():
    course = channel_layer_prefix("postgres://course@db:5432/course")
    staging = channel_layer_prefix("postgres://course@db:5432/course_staging")
    assert course != staging
    assert course == channel_layer_prefix("postgres://other-user@db:5432/course")
