"""The pytest fixtures of ``crm_core.testing`` behave like production: each request of the test
client starts with an empty ``flask.g``, and nothing a fixture writes lands in the current folder."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from flask import current_app, g

from crm_core.auth.models import Role
from crm_core.entities.models import Customer
from crm_core.permissions.models import Grant

API = "/api/v1"


def test_a_grant_given_between_two_requests_applies_to_the_second(client, make_user):
    """The grants of the first request are cached in its ``g``; the second request reads them again
    (with one app context for the whole test it saw the cached, stale grants and was refused)."""
    _, headers = make_user(roles=("sales",))
    assert client.get(f"{API}/audit", headers=headers).status_code == 403
    Grant.create(role=Role.get(Role.name == "sales"), resource="audit", action="read", scope="all")
    assert client.get(f"{API}/audit", headers=headers).status_code == 200


def test_the_test_body_keeps_its_own_context_and_g(app, client, admin_headers):
    g.marker = "the test's"
    assert client.post(f"{API}/customers", json={"name": "A"}, headers=admin_headers).status_code == 201
    # the request ran (and closed its connection) in its own context; the test's is still there
    assert current_app._get_current_object() is app and g.marker == "the test's"
    assert "request_id" not in g  # set by every request's before_request, in the request's g
    assert [c.name for c in Customer.select()] == ["A"]


def test_a_client_of_a_plugin_app_runs_each_request_in_a_fresh_context(register_plugin):
    """``register_plugin`` apps hand out the same client: a value a view leaves in ``g`` is gone
    on the next request even while the test has that app's context pushed."""
    import types

    from flask import Blueprint

    from crm_core import hookimpl

    bp = Blueprint("g_probe", __name__)

    @bp.route("/g-probe")
    def probe():
        seen = g.get("probe_seen")
        g.probe_seen = "left by an earlier request"
        return {"seen": seen}

    app = register_plugin(types.SimpleNamespace(crm_web_blueprints=hookimpl(lambda: [bp])), "g_probe")
    client = app.test_client()
    with app.app_context():
        assert client.get("/g-probe").get_json() == {"seen": None}
        assert client.get("/g-probe").get_json() == {"seen": None}


def test_the_fixtures_write_nothing_into_the_current_folder(tmp_path):
    """Templates, apps and plugin apps keep their instance folder (``secret_key``...) in pytest's
    temporary folders: a suite run from any folder leaves it as it was."""
    (tmp_path / "test_uses_fixtures.py").write_text(
        textwrap.dedent(
            """
            import types

            def test_everything(client, admin_headers, register_plugin):
                assert client.get("/api/v1/customers", headers=admin_headers).status_code == 200
                register_plugin(types.SimpleNamespace(), "nothing")
            """
        )
    )
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist", "-k", "sqlite"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["test_uses_fixtures.py"], run.stdout[-500:]


def test_with_client_still_keeps_the_last_request_for_inspection(app, client):
    """``with client:`` keeps the last request's contexts until the block ends (Flask's way to
    inspect ``request`` and ``g`` afterwards); redirects each get a context too."""
    from flask import request

    g.marker = "the test's"
    with client:
        assert client.get("/", follow_redirects=True).status_code == 200  # / redirects to /login
        assert request.path == "/login" and "request_id" in g and "marker" not in g
    assert g.marker == "the test's" and "request_id" not in g
