"""The offline tutor, as every new user meets it (`make run` has no key): one short passage from
the section that answers the question, a link to that section, and nothing axe objects to.

The session's site has a (fake) key, so this test runs a site of its own without one.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.e2e.learner import ask, open_tutor, sign_up, tutor_log
from tests.e2e.test_accessibility_in_browser import assert_accessible, show
from tests.site_process import daphne, prepare, site_env


@pytest.fixture(scope="module")
def keyless_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    env = site_env(
        tmp_path_factory.mktemp("offline-site"), ANTHROPIC_API_KEY="", SIGNUPS_PER_HOUR="1000"
    )
    prepare(env)
    with daphne(env) as url:
        yield url


@pytest.fixture
def learner_page(browser: Browser, keyless_site: str) -> Iterator[Page]:
    context = browser.new_context(base_url=keyless_site)
    yield context.new_page()
    context.close()


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_offline_tutor_answers_from_the_right_section_briefly_and_accessibly(
    learner_page: Page, scheme: str
) -> None:
    page = learner_page
    show(page, 390, scheme)
    sign_up(page, "/lessons/system-prompts-and-caching/")
    open_tutor(page)
    ask(page, "How long does a cached prompt last?")
    reply = tutor_log(page).locator("article.msg-assistant.status-complete").last
    expect(reply).to_be_visible(timeout=15_000)
    expect(reply.get_by_role("heading", level=3)).to_have_text(re.compile("Lifetimes"))
    expect(reply).to_contain_text("offline")
    link = reply.get_by_role("link", name=re.compile("Lifetimes"))
    expect(link).to_have_attribute("href", re.compile("#lifetimes"))
    assert len(reply.inner_text()) < 1500
    assert_accessible(page)
