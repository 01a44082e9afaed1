from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from course.lessons import load_catalogue


def test_a_learner_reads_a_lesson_answers_the_quiz_and_completes_it(page: Page):
    page.goto("/")
    expect(page.get_by_role("heading", name="Learn the Claude API")).to_be_visible()
    expect(page.get_by_text("0 of 4 lessons complete")).to_be_visible()

    page.get_by_role("link", name=re.compile("Lesson 1: The Messages API")).click()
    expect(page).to_have_url(re.compile("/lessons/messages-api/$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("The Messages API")
    expect(page.get_by_role("complementary", name="On this page")).to_be_visible()
    expect(page.get_by_role("button", name=re.compile("Copy python")).first).to_be_visible()

    # Marks the page, so that a full reload (which would lose the mark) fails the test.
    page.evaluate("window.__noReload = true")
    question = load_catalogue().get("messages-api").quiz[0]
    form = page.locator("#question-1")
    form.get_by_label(question.choices[question.answer], exact=False).first.check()
    form.get_by_role("button", name="Check answer").click()
    expect(page.locator("#question-1 .feedback")).to_contain_text("Correct.")
    wrong = next(key for key in question.choices if key != question.answer)
    page.locator("#question-1").get_by_label(question.choices[wrong], exact=False).first.check()
    page.locator("#question-1").get_by_role("button", name="Check again").click()
    expect(page.locator("#question-1 .feedback")).to_contain_text("Not quite.")

    page.get_by_role("button", name="Mark as complete").click()
    expect(page.get_by_text("You completed this lesson.")).to_be_visible()
    assert page.evaluate("window.__noReload") is True

    page.get_by_role("link", name=re.compile("Next")).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("System prompts and prompt caching")
    page.goto("/")
    expect(page.get_by_text("1 of 4 lessons complete")).to_be_visible()
    expect(page.get_by_text("Quiz 0/5 right")).to_be_visible()


def test_an_unknown_lesson_shows_the_404_page(page: Page):
    response = page.goto("/lessons/nowhere/")
    assert response is not None and response.status == 404
    expect(page.get_by_role("heading", name="We couldn't find that page")).to_be_visible()


def test_the_quiz_works_without_javascript(browser, base_url: str):
    context = browser.new_context(java_script_enabled=False, base_url=base_url)
    page = context.new_page()
    page.goto("/lessons/streaming-and-errors/")
    page.locator("#question-2").get_by_role("button", name="Check answer").click()
    expect(page.get_by_text("Pick one of the answers, then check it.")).to_be_visible()
    question = load_catalogue().get("streaming-and-errors").quiz[1]
    page.locator("#question-2").get_by_label(
        question.choices[question.answer], exact=False
    ).first.check()
    page.locator("#question-2").get_by_role("button", name="Check answer").click()
    expect(page).to_have_url(re.compile("/lessons/streaming-and-errors/#question-2$"))
    expect(page.locator("#question-2 .feedback")).to_contain_text("Correct.")
    context.close()


def test_a_learner_sees_when_the_facts_were_checked_and_can_fetch_the_handbook(page: Page):
    page.goto("/lessons/system-prompts-and-caching/")
    facts = page.locator(".facts-checked")
    expect(facts).to_be_visible()
    checked = load_catalogue().get("system-prompts-and-caching").facts_checked
    # The front matter's date, as the page writes it ("6 December 2026"): bumping it needs no edit.
    expect(facts).to_contain_text(f"Facts checked on {checked.day} {checked:%B %Y}")
    link = facts.get_by_role("link", name="Prompt caching")
    expect(link).to_have_attribute(
        "href", "https://platform.claude.com/docs/en/build-with-claude/prompt-caching"
    )
    with page.expect_download() as download:
        page.get_by_role("link", name="ledgerly_handbook.md").first.click()
    assert download.value.suggested_filename == "ledgerly_handbook.md"
