"""crm-core + crm-channel-tracking installed alone in a fresh virtualenv: migrate, list, ingest."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from crm_core.testing import install

PLUGIN = Path(__file__).resolve().parents[1]
CORE = PLUGIN.parents[1]

SMOKE = textwrap.dedent(
    """
    import json, sys
    from crm_core.app import create_app

    app = create_app()
    c = app.test_client()
    key = sys.argv[1]
    r = c.post("/api/v1/track/batch", headers={"X-Tracking-Key": key}, json={"events": [
        {"visitor_id": "v1", "event_type": "page_view", "utm_source": "douyin", "utm_medium": "kol"},
        {"visitor_id": "v1"},
    ]})
    assert r.status_code == 200, r.get_data(as_text=True)

    # the screens, their static files and their zh-CN catalogue are in the installed package
    import re
    from crm_core.auth import create_user

    with app.app_context():
        create_user("smoke_admin", "Smoke-Passw0rd!", roles=["admin"])
    web = app.test_client()
    token = re.search(r'name="csrf_token" value="([^"]+)"', web.get("/login").get_data(as_text=True)).group(1)
    login = {"username": "smoke_admin", "password": "Smoke-Passw0rd!", "csrf_token": token}
    assert web.post("/login", data=login).status_code == 302
    page = web.get("/channel-tracking/campaigns", headers={"Accept-Language": "zh-CN"})
    assert page.status_code == 200 and "渠道活动" in page.get_data(as_text=True), page.status_code
    assert web.get("/channel-tracking/static/channel_tracking/charts.js").status_code == 200
    print(json.dumps(r.get_json(), sort_keys=True))
    """
)


@pytest.mark.slow
def test_core_and_channel_tracking_installed_alone(tmp_path):
    env = install(tmp_path, CORE, PLUGIN, env={"CRM_DATABASE_URL": f"sqlite:///{tmp_path / 'crm.db'}"})
    assert env.distributions() == ["crm-channel-tracking", "crm-core"]  # no other plugin came along

    assert "channel_tracking: 0001_initial" in env.crm("migrate")
    assert "database is up to date" in env.crm("migrate")
    plugins = {p["name"]: p for p in json.loads(env.crm("plugins", "--json"))}
    assert plugins["channel_tracking"]["status"] == "enabled"
    assert "loyalty" not in plugins
    key = env.crm("channel-tracking", "create-key", "smoke").strip().rsplit(" ", 1)[-1]
    assert key.startswith("ctk_")
    out = env.python(SMOKE, key)
    result = json.loads(out.strip().splitlines()[-1])
    assert result["accepted"] == 1
    assert result["rejected"] == [
        {"index": 1, "errors": {"event_type": ["Missing data for required field."]}}
    ]
