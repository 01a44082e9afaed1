from __future__ import annotations

import os
import re

from course.lessons import load_catalogue
from tests.lesson_files import lesson_text, write


def bump_mtime(path):
    """Make sure a rewrite within the same clock tick still counts as a change."""
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))


def test_it_renders_tables_code_and_anchors(lessons_dir):
    body = (
        "## A table\n\n| Param | Required |\n|---|---|\n| `model` | yes |\n\n"
        "## Some code\n\n```python\nprint('hi')\n```\n\n### Deeper\n\ntext <script>alert(1)</script>\n"
    )
    write(lessons_dir / "01-tiny.md", lesson_text().split("## First section")[0] + body)
    (lesson,) = load_catalogue().lessons
    # A labelled, focusable scroller around the table; each cell names its column for phones.
    assert (
        '<div class="table-scroll" tabindex="0" role="region" aria-label="Table: A table"><table>'
        in lesson.html
    )
    assert '<td data-label="Param"><code>model</code></td>' in lesson.html
    assert (
        '<pre tabindex="0"><code class="language-python"><span class="nb">print</span>'
        in lesson.html
    )
    assert '<h2 id="a-table">' in lesson.html and '<h3 id="deeper">' in lesson.html
    assert [(h.level, h.anchor) for h in lesson.toc] == [
        (2, "a-table"),
        (2, "some-code"),
        (3, "deeper"),
    ]
    assert "<script>" not in lesson.html and "&lt;script&gt;" in lesson.html


def test_it_orders_lessons_by_order_not_file_name(lessons_dir):
    write(lessons_dir / "01-b.md", lesson_text(slug="second", order=2))
    write(lessons_dir / "02-a.md", lesson_text(slug="first", order=1))
    catalogue = load_catalogue()
    assert [lesson.slug for lesson in catalogue.lessons] == ["first", "second"]
    first, second = catalogue.lessons
    assert catalogue.neighbours(first) == (None, second)
    assert catalogue.neighbours(second) == (first, None)


def test_it_reports_duplicate_slugs_and_orders(lessons_dir):
    write(lessons_dir / "01-a.md", lesson_text(slug="same", order=1))
    write(lessons_dir / "02-b.md", lesson_text(slug="same", order=1))
    problems = [str(p) for p in load_catalogue().problems]
    assert any("02-b.md:2: slug 'same' is also used by 01-a.md" in p for p in problems)
    assert any("02-b.md:2: order 1 is also used by 01-a.md" in p for p in problems)


def test_it_checks_links_between_lessons(lessons_dir):
    links = (
        "See [ok](/lessons/other/#second-section), [no lesson](/lessons/missing/), "
        "[no anchor](/lessons/other/#nowhere), [a file](02-other.md) and [outside](https://example.com)."
    )
    write(lessons_dir / "01-a.md", lesson_text(slug="one", order=1, **{"More text.": links}))
    write(lessons_dir / "02-b.md", lesson_text(slug="other", order=2))
    problems = [p.message for p in load_catalogue().problems]
    assert problems == [
        "link '/lessons/missing/': there is no lesson with slug 'missing'",
        "link '/lessons/other/#nowhere': lesson 'other' has no heading with anchor #nowhere",
        "link '02-other.md' points at a file; link to /lessons/<slug>/ instead",
    ]


def test_it_checks_anchors_within_a_lesson(lessons_dir):
    text = lesson_text(**{"(#second-section)": "(#third-section)"})
    write(lessons_dir / "01-a.md", text)
    (problem,) = load_catalogue().problems
    assert (
        problem.message
        == "link '#third-section': lesson 'tiny' has no heading with anchor #third-section"
    )


def test_it_picks_up_an_edit_without_a_restart(lessons_dir):
    path = write(lessons_dir / "01-a.md", lesson_text())
    assert load_catalogue().lessons[0].title == "Tiny lesson"
    write(path, lesson_text(**{"title: Tiny lesson": "title: Renamed lesson"}))
    bump_mtime(path)
    assert load_catalogue().lessons[0].title == "Renamed lesson"


def test_it_keeps_serving_the_last_good_version_of_a_broken_lesson(lessons_dir, caplog):
    path = write(lessons_dir / "01-a.md", lesson_text())
    assert not load_catalogue().problems
    write(path, lesson_text(**{"answer: b": "answer: z"}))
    bump_mtime(path)
    catalogue = load_catalogue()
    assert [lesson.title for lesson in catalogue.lessons] == ["Tiny lesson"]
    assert "answer 'z' is not one of the choices" in str(catalogue.problems[0])
    assert "answer 'z' is not one of the choices" in caplog.text


def test_a_lesson_that_was_never_valid_is_left_out(lessons_dir):
    write(lessons_dir / "01-a.md", "no front matter here")
    catalogue = load_catalogue()
    assert catalogue.lessons == ()
    assert catalogue.problems[0].line == 1


def test_it_fills_in_the_models_table(lessons_dir):
    write(lessons_dir / "01-a.md", lesson_text(**{"More text.": "{{ models_table }}"}))
    (lesson,) = load_catalogue().lessons
    assert "| Claude Haiku 5.5 | `claude-haiku-5-5` | current |" in lesson.source
    assert "<code>claude-haiku-5-5</code>" in lesson.html
    assert re.search(r"Last verified \d+ \w+ 20\d\d", lesson.source)


def test_the_models_table_follows_an_edit_of_the_model_data(lessons_dir):
    write(lessons_dir / "01-a.md", lesson_text(**{"More text.": "{{ models_table }}"}))
    assert "Claude Opus 5.5" in load_catalogue().lessons[0].source
    models = lessons_dir / "models.yaml"
    write(models, models.read_text().replace("name: Claude Opus 5.5", "name: Claude Opus Five"))
    bump_mtime(models)
    assert "Claude Opus Five" in load_catalogue().lessons[0].source
