"""Test helpers for workbench pages (core and plugins): read the CSRF token from a page, log in
through the form, post a form with a valid token."""

from __future__ import annotations

import atexit
import os
import re
import socket
import threading
from contextlib import contextmanager
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from .app import create_app
from .testing import TEST_PASSWORD, migrate_url

#: Where browser tests save their screenshots: ``CRM_TEST_SCREENSHOT_DIR``, else
#: ``test-artifacts/screenshots`` under the folder the tests run from (a ``CRM_TEST_`` name: the
#: app's configuration refuses any other unknown ``CRM_`` variable)
SCREENSHOTS = Path(os.environ.get("CRM_TEST_SCREENSHOT_DIR", "test-artifacts/screenshots")).absolute()

CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_from(client, path="/login") -> str:
    """The CSRF token the page at ``path`` carries (for the current session of ``client``)."""
    html = client.get(path).get_data(as_text=True)
    match = CSRF_RE.search(html)
    assert match, f"no csrf_token on {path}"
    return match.group(1)


def web_login(client, username, password=TEST_PASSWORD):
    """Log ``client`` in through the login form; returns the response."""
    token = csrf_from(client, "/login")
    return client.post("/login", data={"username": username, "password": password, "csrf_token": token})


def post_form(client, path, data, page=None, **kwargs):
    """POST a form to ``path`` with a valid CSRF token taken from ``page`` (default: ``path``)."""
    token = csrf_from(client, page or path)
    return client.post(path, data={**data, "csrf_token": token}, **kwargs)


CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)
_shared: dict = {}


def chromium_browser(executable: str = CHROMIUM):
    """One headless Chromium (Playwright's sync API) for the whole test process.

    Playwright's sync API refuses to start while another instance runs in the same thread, so
    browser fixtures of different test folders (core, each plugin) that each started their own
    failed whenever pytest-xdist put them on one worker. Every browser fixture asks for this one
    instead; each test still gets its own context (cookies, locale). Closed when the process exits.
    Skips the test when Chromium or Playwright is missing (fails it under
    ``CRM_TEST_REQUIRE_BROWSER=1``, as CI runs).
    """
    if "browser" not in _shared:

        def need(condition: bool, reason: str) -> None:
            # CI (CRM_TEST_REQUIRE_BROWSER=1) fails where a laptop without the browser skips
            if not condition:
                message = reason + " (run scripts/install-browser.sh)"
                (pytest.fail if os.environ.get("CRM_TEST_REQUIRE_BROWSER") == "1" else pytest.skip)(message)

        need(os.path.exists(executable), f"{executable} is not installed")
        try:  # an optional dependency: only browser tests need it
            from playwright.sync_api import sync_playwright
        except ImportError:
            need(False, "the playwright package is not installed")

        manager = sync_playwright()
        playwright = manager.start()
        _shared["browser"] = playwright.chromium.launch(
            executable_path=executable, args=list(CHROMIUM_ARGS), headless=True
        )
        _shared["manager"] = manager
        atexit.register(_close_browser)
    return _shared["browser"]


def _close_browser() -> None:
    browser, manager = _shared.pop("browser", None), _shared.pop("manager", None)
    try:
        if browser is not None:
            browser.close()
        if manager is not None:
            manager.__exit__(None, None, None)
    except Exception:  # the process is ending: a browser already gone is no failure
        pass


@contextmanager
def live_server(folder, settings: dict | None = None, seed=None):
    """Serve a migrated crm-core for browser tests: ``{"url", "app", **seed(app)}``.

    The database is a new SQLite file in ``folder``; the app runs with CSRF on (as in
    production) and ``BASE_URL`` set to the address it is served on, from a werkzeug server on a
    free port in a thread, until the block ends. ``settings`` are added to the app's; ``seed``,
    called with the app before the server starts, returns what the tests need to know (users,
    ids).
    """
    url = f"sqlite:///{Path(folder) / 'crm.db'}"
    migrate_url(url)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    base = f"http://127.0.0.1:{port}"
    app = create_app(
        {
            "DATABASE_URL": url,
            "INSTANCE_PATH": str(folder),
            "SECRET_KEY": "browser-test-secret",
            "WTF_CSRF_ENABLED": True,
            "BASE_URL": base,
            **(settings or {}),
        }
    )
    known = seed(app) if seed is not None else {}
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield {"url": base, "app": app, **(known or {})}
    finally:
        server.shutdown()
        thread.join(timeout=10)


def signed_in_page(
    browser, base: str, username: str, password: str, locale: str = "en-US", width: int = 1280
):
    """A page in a fresh browser context (own cookies, ``locale``) signed in through the login
    form as a person would; close it with ``page.context.close()``."""
    context = browser.new_context(viewport={"width": width, "height": 900}, locale=locale)
    context.set_default_timeout(15000)
    page = context.new_page()
    page.goto(base + "/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_url(base + "/")
    return page
