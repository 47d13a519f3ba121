"""Browser test fixtures: a real crm-core server (werkzeug in a thread, temp SQLite database) and
headless Debian chromium driven by Playwright.

Install with ``scripts/install-browser.sh .venv/bin`` (apt chromium + the playwright package; no
``playwright install``). Screenshots go to ``test-artifacts/screenshots/`` (printed at the end of
the run); ``CRM_TEST_SCREENSHOT_DIR`` overrides the folder. Without chromium or playwright the tests
skip, unless ``CRM_TEST_REQUIRE_BROWSER=1`` (CI) makes that an error.
"""

from __future__ import annotations

import pytest

from crm_core.browser_testing import SCREENSHOTS

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PASSWORD = "Browser-Passw0rd!"


def pytest_terminal_summary(terminalreporter):
    if SCREENSHOTS.exists() and any(SCREENSHOTS.glob("*.png")):
        terminalreporter.write_line(f"browser screenshots: {SCREENSHOTS}")


def _seed(app) -> dict:
    """Users, roles, a pipeline with a deal, a customer with a secret phone number."""
    from crm_core.auth import create_user, issue_token

    with app.app_context():
        admin = create_user("admin", PASSWORD, roles=["admin"], name="Admin")
        raw, _ = issue_token(admin)
    api = app.test_client()
    h = {"Authorization": f"Bearer {raw}"}

    def post(path, body):
        r = api.post(path, json=body, headers=h)
        assert r.status_code == 201, (path, r.get_json())
        return r.get_json()

    dept = post("/api/v1/departments", {"name": "East"})
    pipeline = post(
        "/api/v1/pipelines",
        {
            "name": "Sales",
            "is_default": True,
            "stages": [{"name": "Lead"}, {"name": "Proposal"}, {"name": "Won", "kind": "won"}],
        },
    )
    post(
        "/api/v1/roles",
        {
            "name": "viewer",
            "grants": [
                {"resource": "customers", "action": "read", "scope": "all"},
                {"resource": "deals", "action": "read", "scope": "all"},
            ],
            "field_rules": [{"resource": "customers", "field": "phone", "rule": "hidden"}],
        },
    )
    post(
        "/api/v1/users",
        {"username": "viewer", "password": PASSWORD, "roles": ["viewer"], "department_id": dept["id"]},
    )
    customer = post(
        "/api/v1/customers", {"name": "Secret Phone Ltd", "phone": "+8613912345678", "tags": ["vip"]}
    )
    deal = post("/api/v1/deals", {"title": "Drag me", "customer_id": customer["id"], "amount": "5000"})
    post("/api/v1/tickets", {"title": "Cannot log in", "customer_id": customer["id"], "priority": "high"})
    return {
        "headers": h,
        "stages": [s["id"] for s in pipeline["stages"]],
        "deal": deal["id"],
        "customer": customer["id"],
        "api": api,
    }


@pytest.fixture(scope="session")
def live_server(tmp_path_factory):
    """``{"url", "app", ...seed}``: crm-core served on a free port from a temp SQLite database."""
    from crm_core.browser_testing import live_server as serve

    with serve(tmp_path_factory.mktemp("browser-server"), seed=_seed) as server:
        yield server


@pytest.fixture(scope="session")
def browser():
    """Headless Debian chromium through Playwright (never Playwright's own download)."""
    from crm_core.browser_testing import chromium_browser

    return chromium_browser(CHROMIUM)  # one per process: see chromium_browser


@pytest.fixture
def page(browser, live_server):
    """A fresh browser context (own cookies), English, 1280x900."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-US")
    context.set_default_timeout(15000)
    pg = context.new_page()
    yield pg
    context.close()


@pytest.fixture
def shot():
    """``shot(page, name)``: save a full-page screenshot under the screenshots folder."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def take(pg, name):
        pg.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)

    return take


@pytest.fixture
def login(live_server):
    """``login(page, base, username)``: log in through the form like a person would.

    The user's saved language is cleared first, so the page speaks the browser's language
    (the context's ``locale``) whatever an earlier test on this shared server chose."""

    def run(page, base, username, password=PASSWORD):
        from crm_core.auth.models import User

        with live_server["app"].app_context():
            User.update(language=None).where(User.username == username).execute()
        page.goto(base + "/login")
        page.fill("input[name=username]", username)
        page.fill("input[name=password]", password)
        page.click("button[type=submit]")
        page.wait_for_url(base + "/")

    return run
