"""A third party's view: `pip install` crm-core and the example plugin into a new environment,
then use the `crm` command and the API there. Slow (it builds wheels), but CI runs it."""

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

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
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    # build from a copy: setuptools leaves build/ and *.egg-info beside the sources it builds
    example = shutil.copytree(ROOT / "examples" / "hello_plugin", tmp_path / "hello_plugin")
    # the core from a copy too: a stale build/lib beside the sources (modules since moved) would be
    # packed into the wheel
    ignored = shutil.ignore_patterns(
        "build", ".venv", ".git", "*.egg-info", "__pycache__", "instance", ".*cache*"
    )
    core = shutil.copytree(ROOT, tmp_path / "core", ignore=ignored)
    subprocess.run([*pip, str(core), str(example)], check=True, timeout=900)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRM_")}
    env.update(CRM_INSTANCE_PATH=str(tmp_path / "instance"), CRM_SECRET_KEY="install-test")
    crm = str(venv / "bin" / "crm")

    def run(*args):
        proc = subprocess.run([*args], env=env, capture_output=True, text=True, timeout=300, cwd=tmp_path)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        return proc.stdout

    run(crm, "migrate")
    assert "up to date" in run(crm, "migrate")
    plugins = {p["name"]: p for p in json.loads(run(crm, "plugins", "--json"))}
    assert plugins["hello"]["status"] == "enabled" and plugins["hello"]["version"] == "0.1.0"
    assert "greetings: 0" in run(crm, "hello", "stats")
    assert "smoke ok" in run(str(venv / "bin" / "python"), "-c", SMOKE)
