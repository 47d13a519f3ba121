"""Two crm-core apps in one process (a test session's live servers, an app embedded beside
another) each read and write their own database, whichever was created last."""

from __future__ import annotations

from crm_core.app import create_app
from crm_core.auth import create_user, issue_token
from crm_core.testing import TEST_PASSWORD, migrate_url


def _app(tmp_path, name):
    url = f"sqlite:///{tmp_path / f'{name}.db'}"
    migrate_url(url)
    app = create_app({"DATABASE_URL": url, "TESTING": True, "INSTANCE_PATH": str(tmp_path / name)})
    with app.app_context():
        raw, _ = issue_token(create_user(f"admin_{name}", TEST_PASSWORD, roles=["admin"]))
    return app, {"Authorization": f"Bearer {raw}"}


def test_each_app_answers_from_its_own_database(tmp_path):
    first, first_h = _app(tmp_path, "first")
    second, second_h = _app(tmp_path, "second")  # created last: it used to own every query
    r = first.test_client().post("/api/v1/customers", json={"name": "Only in the first"}, headers=first_h)
    assert r.status_code == 201, r.get_json()
    listed = first.test_client().get("/api/v1/customers", headers=first_h).get_json()
    assert [c["name"] for c in listed] == ["Only in the first"]
    assert second.test_client().get("/api/v1/customers", headers=second_h).get_json() == []
    # a token is known only to the app that issued it
    assert second.test_client().get("/api/v1/customers", headers=first_h).status_code == 401
