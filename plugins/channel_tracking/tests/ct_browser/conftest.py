"""Browser fixtures for the channel tracking screens: a real crm-core server (werkzeug in a
thread, temp SQLite database, no redirect domain configured: a fresh install) filled by the
plugin's own ``crm_demo_data`` hookimpl, and headless Debian chromium driven by Playwright (as
``tests/browser/conftest.py`` of the core does). Screenshots go to ``test-artifacts/screenshots/``.
"""

from __future__ import annotations

import random

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
CUSTOMERS = ("王芳", "李娜", "张伟", "刘洋", "陈静", "杨磊", "赵敏", "黄勇", "周婷", "吴军")


def _seed(app) -> None:
    """An admin, an analyst who may read campaigns, links and reports only, ten customers and
    the plugin's demo data."""
    import crm_channel_tracking

    from crm_core.plugin_api import DemoContext, actor_for_user, database
    from crm_core.testing import user_with_token

    with app.app_context():
        admin, h = user_with_token("admin", ["admin"], PASSWORD, name="Admin")
    api = app.test_client()
    role = api.post(
        "/api/v1/roles",
        json={
            "name": "ct_analyst",
            "grants": [
                {"resource": r, "action": "read", "scope": "all"}
                for r in ("channel_tracking.campaigns", "channel_tracking.links", "channel_tracking.reports")
            ],
        },
        headers=h,
    )
    assert role.status_code == 201, role.get_json()
    user = api.post(
        "/api/v1/users",
        json={"username": "analyst", "password": PASSWORD, "roles": ["ct_analyst"]},
        headers=h,
    )
    assert user.status_code == 201, user.get_json()
    ids = []
    for name in CUSTOMERS:
        r = api.post("/api/v1/customers", json={"name": name}, headers=h)
        assert r.status_code == 201, r.get_json()
        ids.append(r.get_json()["id"])
    with app.test_request_context(), database.atomic():
        crm_channel_tracking.crm_demo_data(
            DemoContext(locale="zh_CN", admin=actor_for_user(admin), customers=ids, random=random.Random(3))
        )


@pytest.fixture(scope="session")
def ct_server(tmp_path_factory):
    """``{"url", "app"}``: crm-core with the plugin's demo data on a free port."""
    from crm_core.browser_testing import live_server

    folder = tmp_path_factory.mktemp("ct-browser-server")
    # no redirect domains configured: links go where CRM_BASE_URL (the served address) points
    with live_server(folder, {"CHANNEL_TRACKING_REDIRECT_DOMAINS": ""}, seed=_seed) as server:
        yield {"url": server["url"], "app": server["app"]}


@pytest.fixture(scope="session")
def ct_browser():
    """Headless Debian chromium through Playwright (never Playwright's own download)."""
    from crm_core.browser_testing import chromium_browser

    return chromium_browser(CHROMIUM)  # one per process: see chromium_browser


@pytest.fixture
def open_as(ct_browser, ct_server):
    """``open_as(username, locale)``: a fresh signed-in page in that browser language."""
    from crm_core.browser_testing import signed_in_page

    contexts = []

    def run(username, locale="zh-CN"):
        page = signed_in_page(ct_browser, ct_server["url"], username, PASSWORD, locale, width=1366)
        contexts.append(page.context)
        return page

    yield run
    for context in contexts:
        context.close()


@pytest.fixture
def shot():
    """``shot(page, name)``: a full-page screenshot under the screenshots folder."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def take(page, name):
        page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)

    return take
