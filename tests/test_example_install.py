"""A third party's view: `pip install` crm-core and the example plugin into a new environment,
then use the `crm` command and the API there. Slow (it builds wheels), but CI runs it."""

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
        raw, _ = issue_token(create_user("installer", "Install-Passw0rd", roles=["admin"]))
    c = app.test_client()
    h = {"Authorization": "Bearer " + raw}
    r = c.post("/api/v1/hello/greetings", json={"text": "installed"}, headers=h)
    assert r.status_code == 201, r.get_data(as_text=True)
    assert c.get("/api/v1/hello/greetings", headers=h).get_json()[0]["text"] == "installed"
    print("smoke ok")
    """
)


@pytest.mark.slow
def test_pip_install_core_and_example_plugin(tmp_path):
    env = install(tmp_path, ROOT, ROOT / "examples" / "hello_plugin")
    env.crm("migrate")
    assert "up to date" in env.crm("migrate")
    plugins = {p["name"]: p for p in json.loads(env.crm("plugins", "--json"))}
    assert plugins["hello"]["status"] == "enabled" and plugins["hello"]["version"] == "0.1.0"
    assert "greetings: 0" in env.crm("hello", "stats")
    assert "smoke ok" in env.python(SMOKE)
