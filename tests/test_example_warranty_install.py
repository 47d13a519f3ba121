"""A third party's view of the warranty example: `pip install` crm-core and
examples/warranty_plugin into a new environment, migrate, and use the plugin there (its API, its
job on the context's clock, its grants for built-in roles). Slow (it builds wheels), like
tests/test_example_install.py for the hello example."""

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# copies to build from: setuptools reuses (and leaves) build/ and *.egg-info beside the sources,
# and a stale build/lib of modules since moved would be packed into the wheel
IGNORED = shutil.ignore_patterns(
    "build", ".venv", ".git", "*.egg-info", "__pycache__", "instance", "test-artifacts", ".*cache*"
)

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
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    core = shutil.copytree(ROOT, tmp_path / "core", ignore=IGNORED)
    shutil.rmtree(core / "examples")
    shutil.rmtree(core / "plugins")
    example = shutil.copytree(
        ROOT / "examples" / "warranty_plugin", tmp_path / "warranty_plugin", ignore=IGNORED
    )
    subprocess.run([*pip, str(core), str(example)], check=True, timeout=900)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRM_")}
    env.update(CRM_INSTANCE_PATH=str(tmp_path / "instance"), CRM_SECRET_KEY="install-test")
    crm = str(venv / "bin" / "crm")

    def run(*args):
        proc = subprocess.run([*args], env=env, capture_output=True, text=True, timeout=300, cwd=tmp_path)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        return proc.stdout

    run(crm, "migrate")
    plugins = {p["name"]: p for p in json.loads(run(crm, "plugins", "--json"))}
    assert plugins["warranty"]["status"] == "enabled" and plugins["warranty"]["version"] == "0.1.0"
    assert "warranty:expire" in run(crm, "jobs", "list")
    assert "smoke ok" in run(str(venv / "bin" / "python"), "-c", SMOKE)
    # the daily job, as of a day after every warranty ended: the claimed one stays claimed
    assert "-> 0" in run(crm, "jobs", "run", "warranty:expire", "--at", "2031-01-01")
