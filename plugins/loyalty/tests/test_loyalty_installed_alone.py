"""crm-core + crm-loyalty installed alone in a fresh virtualenv give a working programme."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from crm_core.testing import install

PLUGIN = Path(__file__).resolve().parents[1]
CORE = PLUGIN.parents[1]

SMOKE = textwrap.dedent(
    """
    import json
    from crm_core.app import create_app

    app = create_app()
    c = app.test_client()
    token = c.post("/api/v1/auth/token", json={"username": "root", "password": "Smoke-Passw0rd!"}).get_json()
    h = {"Authorization": "Bearer " + token["access_token"]}
    L = "/api/v1/loyalty"
    for code, rank, threshold in [("basic", 1, "0"), ("vip", 2, "500")]:
        r = c.post(L + "/tiers", json={"code": code, "name": code, "rank": rank, "window": "lifetime",
                                       "threshold": threshold}, headers=h)
        assert r.status_code == 201, r.get_json()
    assert c.post(L + "/rules", json={"name": "1/yuan", "kind": "purchase", "rate": "1"}, headers=h).status_code == 201
    customer = c.post("/api/v1/customers", json={"name": "Smoke"}, headers=h).get_json()["id"]
    r = c.post(L + "/activities", json={"customer_id": customer, "kind": "purchase", "reference": "o1",
                                        "amount": "800"}, headers=h)
    assert r.status_code == 201, r.get_json()
    member = c.get(L + "/members/%d" % customer, headers=h).get_json()
    # the screens' templates and the Chinese catalogue come with the package
    import re
    token = re.search(r'name="csrf_token" value="([^"]+)"', c.get("/login").get_data(as_text=True)).group(1)
    login = {"username": "root", "password": "Smoke-Passw0rd!", "csrf_token": token}
    assert c.post("/login", data=login).status_code == 302
    page = c.get("/loyalty/members/%d" % customer, headers={"Accept-Language": "zh-CN"}).get_data(as_text=True)
    assert "积分明细" in page and "兑换积分" in page, page[-2000:]
    print(json.dumps({"tier": member["tier"], "balance": member["points"]["balance"]}))
    """
)


@pytest.mark.slow
def test_core_and_loyalty_installed_alone(tmp_path):
    env = install(tmp_path, CORE, PLUGIN, env={"CRM_DATABASE_URL": f"sqlite:///{tmp_path / 'crm.db'}"})
    assert env.distributions() == ["crm-core", "crm-loyalty"]  # no other plugin came along
    crm = env.crm

    assert "loyalty" in crm("migrate")
    assert "database is up to date" in crm("migrate")
    plugins = crm("plugins")
    assert "loyalty" in plugins and "channel_tracking" not in plugins
    crm("create-user", "root", "--password", "Smoke-Passw0rd!", "--role", "admin")
    assert "loyalty" in crm("loyalty", "--help")
    out = env.python(SMOKE)
    assert out.strip().splitlines()[-1] == '{"tier": "vip", "balance": 800}'
