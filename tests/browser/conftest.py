"""
Fixtures for the browser tests: headless Chromium driven by Playwright,
against the test server of ``live_server``.

Chromium is Debian's (``apt-get install chromium``, ``/usr/bin/chromium``;
``CHROMIUM`` names another binary); Playwright downloads no browser of its
own here. Without either, the tests fail when ``CI`` is set, so that a CI
run cannot pass without them, and are skipped otherwise.
"""

from __future__ import annotations

import importlib.util
import os
import shutil

import pytest

from tests.factories import AccountFactory, UserFactory

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
PASSWORD = "browser-password"
#: How long a step waits for the page, in milliseconds.
TIMEOUT = 15_000


def missing_requirement() -> str | None:
    if importlib.util.find_spec("playwright") is None:
        return "the `playwright` package is not installed (dependency group `test`)"
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)) and not shutil.which(
        CHROMIUM
    ):
        return f"{CHROMIUM} is not there (apt-get install chromium)"
    return None


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


@pytest.fixture(scope="module")
def browser(django_db_setup):
    missing = missing_requirement()
    if missing:
        if in_ci():
            pytest.fail(
                f"The browser tests need Chromium and Playwright: {missing}.", pytrace=False
            )
        pytest.skip(f"The browser tests need Chromium and Playwright: {missing}.")
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop running in this thread,
    # which Django takes for an async context; the tests' own queries are
    # synchronous. Only while this module's tests run.
    with pytest.MonkeyPatch.context() as patch, sync_playwright() as playwright:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, live_server):
    context = browser.new_context(base_url=live_server.url, accept_downloads=True)
    context.set_default_timeout(TIMEOUT)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page
    context.close()
    assert not errors, f"The page raised JavaScript errors: {errors}"


@pytest.fixture
def user(transactional_db):
    user = UserFactory()
    user.set_password(PASSWORD)
    user.save()
    return user


@pytest.fixture
def account(user):
    return AccountFactory(owner=user)


def log_in(page, user, next_url: str) -> None:
    """Log in through DRF's login view, landing on ``next_url``."""
    page.goto(f"/api-auth/login/?next={next_url}")
    page.fill("#id_username", user.username)
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit], button[type=submit]")
    page.wait_for_url(f"**{next_url}")
