"""A third party's view of the warranty example: `pip install` crm-core and
examples/warranty_plugin into a new environment, migrate, and use the plugin there (its API, its
job on the context's clock, its grants for built-in roles). Slow (it builds wheels), like
tests/test_example_install.py for the hello example."""

import json
import textwrap
from pathlib import Path

import pytest

from crm_core.testing import install

ROOT = Path(__file__).resolve().parent.parent

SMOKE = textwrap.dedent(
    """
    from crm_core.app import create_app
    from crm_core.auth import create_user, issue_token

    app = create_app()
    with app.app_context():
        raw, _ = issue_token(create_user("installer", "Install-Passw0rd", roles=["sales"]))
    c = app.test_client()
    h = {"Authorization": "Bearer " + raw}
    r = c.post("/api/v1/customers", json={"name": "Ina Installed"}, headers=h)
    assert r.status_code == 201, r.get_data(as_text=True)
    body = {"customer_id": r.get_json()["id"], "product": "Kettle", "serial": "SN-I",
            "expires_at": "2030-01-01T00:00:00Z"}
    r = c.post("/api/v1/warranty/warranties", json=body, headers=h)
    assert r.status_code == 201, r.get_data(as_text=True)  # the sales grant its migration seeded
    r = c.post(f"/api/v1/warranty/warranties/{r.get_json()['id']}/claim", json={"reason": "leaks"}, headers=h)
    assert r.status_code == 200 and r.get_json()["status"] == "claimed", r.get_data(as_text=True)
    print("smoke ok")
    """
)


@pytest.mark.slow
def test_pip_install_core_and_the_warranty_plugin(tmp_path):
    env = install(tmp_path, ROOT, ROOT / "examples" / "warranty_plugin")
    env.crm("migrate")
    plugins = {p["name"]: p for p in json.loads(env.crm("plugins", "--json"))}
    assert plugins["warranty"]["status"] == "enabled" and plugins["warranty"]["version"] == "0.1.0"
    assert "warranty:expire" in env.crm("jobs", "list")
    assert "smoke ok" in env.python(SMOKE)
    # the daily job, as of a day after every warranty ended: the claimed one stays claimed
    assert "-> 0" in env.crm("jobs", "run", "warranty:expire", "--at", "2031-01-01")
