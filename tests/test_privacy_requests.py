"""Tracked privacy requests and consent records (issue 18), through the HTTP API and the CLI on
SQLite and PostgreSQL: receipt with a due date, lists with filters (overdue too) and pages,
processing as the handler (export kept for a limited time, downloadable as JSON and as a readable
HTML file; erasure all or nothing), rejection with a reason, the audit of every change, the
permissions, and consent history with ``has_consent``."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from crm_core import hookimpl
from crm_core.testing import run_cli

API = "/api/v1"
R = f"{API}/privacy-requests"
ZH = {"Accept-Language": "zh-CN"}


class Flaky:
    """A plugin whose erasure fails until told otherwise."""

    def __init__(self):
        self.fail = True

    @hookimpl
    def crm_erase_customer(self, customer):
        if self.fail:
            raise RuntimeError("archive offline")


@pytest.fixture
def flaky():
    return Flaky()


@pytest.fixture
def papp(register_plugin, flaky):
    return register_plugin(flaky, "flaky")


@pytest.fixture
def world(papp):
    """A client, an admin (the DPO), two departments with a manager each, and a customer in each."""
    from crm_core.auth import create_user, issue_token
    from crm_core.directory.departments import create_department
    from crm_core.testing import TEST_PASSWORD

    client = papp.test_client()

    def headers(username, roles, department_id=None):
        with papp.app_context():
            raw, _ = issue_token(
                create_user(username, TEST_PASSWORD, roles=roles, department_id=department_id)
            )
        return {"Authorization": f"Bearer {raw}"}

    with papp.app_context():
        north, south = create_department("north").id, create_department("south").id
    dpo = headers("dpo", ("admin",))
    people = {}
    for name, dept in (("北方客户", north), ("Southern Person", south)):
        body = {"name": name, "email": f"{dept}@example.com", "department_id": dept}
        r = client.post(f"{API}/customers", json=body, headers=dpo)
        assert r.status_code == 201, r.get_json()
        people[dept] = r.get_json()
    return {
        "app": papp,
        "client": client,
        "dpo": dpo,
        "north_manager": headers("nm", ("manager",), north),
        "north_service": headers("ns", ("service",), north),
        "readonly": headers("ro", ("readonly",), north),
        "north": people[north],
        "south": people[south],
        "headers": headers,
    }


def _new(world, kind="access", who="north", headers=None, **extra):
    body = {"kind": kind, "customer_id": world[who]["id"], "channel": "email", **extra}
    r = world["client"].post(R, json=body, headers=headers or world["dpo"])
    assert r.status_code == 201, r.get_json()
    return r.get_json()


def _audit(world, request_id):
    from crm_core.audit.models import AuditEntry

    with world["app"].app_context():
        rows = AuditEntry.select().where(
            AuditEntry.resource == "privacy.requests", AuditEntry.record_id == str(request_id)
        )
        return [(e.action, json.loads(e.after or "{}")) for e in rows.order_by(AuditEntry.seq)]


def test_access_request_lifecycle_export_and_audit(world):
    client, dpo = world["client"], world["dpo"]
    created = _new(world, notes="asked by e-mail")
    assert created["status"] == "received" and created["overdue"] is False
    requested = dt.datetime.fromisoformat(created["requested_at"].rstrip("Z"))
    due = dt.datetime.fromisoformat(created["due_at"].rstrip("Z"))
    assert 28 <= (due - requested).days <= 31  # one calendar month
    done = client.post(f"{R}/{created['id']}/process", headers=dpo).get_json()
    assert done["status"] == "completed" and done["export_available"] and done["handled_by_id"]
    assert done["export_expires_at"] and done["completed_at"]

    r = client.get(f"{R}/{created['id']}/export", headers=dpo)
    assert r.status_code == 200 and "attachment" in r.headers["Content-Disposition"]
    document = json.loads(r.get_data(as_text=True))
    assert document["format"] == "crm-core.privacy-export/1"
    assert document["customer"]["name"] == "北方客户" and document["consents"] == []

    html = client.get(f"{R}/{created['id']}/export.html", headers=dpo)
    assert html.status_code == 200 and html.mimetype == "text/html"
    assert "charset=utf-8" in html.headers["Content-Type"]
    text = html.get_data(as_text=True)
    assert "北方客户" in text and "客户信息 / Customer" in text and "同意记录 / Consent records" in text

    actions = [a for a, _ in _audit(world, created["id"])]
    assert actions == ["received", "in_progress", "completed", "download", "download"]
    assert _audit(world, created["id"])[2][1]["from"] == "in_progress"
    # completed is final
    again = client.post(f"{R}/{created['id']}/process", headers=dpo)
    assert again.status_code == 409
    # reading one request, and a customer's consents, is audited (sensitive resources)
    client.get(f"{R}/{created['id']}", headers=dpo)
    assert _audit(world, created["id"])[-1][0] == "read"
    client.get(f"{API}/customers/{world['north']['id']}/consents", headers=dpo)
    from crm_core.audit.models import AuditEntry

    with world["app"].app_context():
        assert AuditEntry.select().where(AuditEntry.resource == "privacy.consents").count() == 1


def test_list_filters_pages_and_overdue(world):
    client, dpo = world["client"], world["dpo"]
    late = _new(world, requested_at="2026-01-31T09:00:00Z")
    assert late["due_at"] == "2026-02-28T09:00:00Z"  # the month is shorter: its last day
    assert late["overdue"] is True
    fresh = _new(world, kind="erasure", who="south")
    overdue = client.get(f"{R}?overdue=true", headers=dpo).get_json()
    assert [r["id"] for r in overdue] == [late["id"]]
    assert [r["id"] for r in client.get(f"{R}?overdue=false", headers=dpo).get_json()] == [fresh["id"]]
    assert [r["id"] for r in client.get(f"{R}?kind=erasure", headers=dpo).get_json()] == [fresh["id"]]
    by_customer = client.get(f"{R}?customer_id={world['south']['id']}", headers=dpo).get_json()
    assert [r["id"] for r in by_customer] == [fresh["id"]]
    page = client.get(f"{R}?page_size=1&page=2", headers=dpo)
    assert json.loads(page.headers["X-Pagination"])["total"] == 2 and len(page.get_json()) == 1
    assert (
        client.get(f"{R}?status=received", headers=dpo).get_json()[0]["id"] == late["id"]
    )  # oldest due first


def test_due_days_setting(world):
    world["app"].config["CORE_PRIVACY_DUE_DAYS"] = 15
    try:
        created = _new(world, requested_at="2026-03-01T00:00:00Z")
    finally:
        world["app"].config["CORE_PRIVACY_DUE_DAYS"] = 0
    assert created["due_at"] == "2026-03-16T00:00:00Z"


def test_bad_input_names_the_field_in_the_users_language(world):
    client, dpo = world["client"], world["dpo"]
    r = client.post(R, json={"kind": "forget", "customer_id": world["north"]["id"]}, headers=dpo)
    assert r.status_code == 422 and "kind" in r.get_json()["errors"]
    r = client.post(R, json={"kind": "access", "customer_id": 999999}, headers={**dpo, **ZH})
    assert r.status_code == 422 and r.get_json()["errors"]["customer_id"] == ["没有这个客户。"]
    future = (dt.datetime.now(dt.UTC) + dt.timedelta(days=3)).isoformat()
    r = client.post(
        R, json={"kind": "access", "customer_id": world["north"]["id"], "requested_at": future}, headers=dpo
    )
    assert r.status_code == 422 and "requested_at" in r.get_json()["errors"]
    created = _new(world)
    r = client.post(f"{R}/{created['id']}/reject", json={}, headers=dpo)
    assert r.status_code == 422 and "reason" in r.get_json()["errors"]
    assert client.get(f"{R}/999999", headers={**dpo, **ZH}).get_json()["message"] == "没有这个隐私请求。"


def test_reject_with_a_reason(world):
    client, dpo = world["client"], world["dpo"]
    created = _new(world, kind="erasure")
    r = client.post(f"{R}/{created['id']}/reject", json={"reason": "identity not verified"}, headers=dpo)
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert body["status"] == "rejected" and body["rejection_reason"] == "identity not verified"
    assert client.post(f"{R}/{created['id']}/process", headers=dpo).status_code == 409
    assert [a for a, _ in _audit(world, created["id"])] == ["received", "rejected"]
    # nothing was erased
    assert client.get(f"{API}/customers/{world['north']['id']}", headers=dpo).get_json()["name"] == "北方客户"


def test_failed_erasure_erases_nothing_and_can_be_retried(world, flaky):
    client, dpo = world["client"], world["dpo"]
    created = _new(world, kind="erasure")
    failed = client.post(f"{R}/{created['id']}/process", headers=dpo).get_json()
    assert failed["status"] == "failed" and "archive offline" in failed["error"]
    customer = client.get(f"{API}/customers/{world['north']['id']}", headers=dpo).get_json()
    assert customer["name"] == "北方客户" and customer["email"]
    flaky.fail = False
    done = client.post(f"{R}/{created['id']}/process", headers=dpo).get_json()
    assert done["status"] == "completed" and done["erasure"]["erased"]["audit_entries"] >= 1
    customer = client.get(f"{API}/customers/{world['north']['id']}", headers=dpo).get_json()
    assert customer["name"].startswith("Erased customer") and customer["email"] is None
    actions = [a for a, _ in _audit(world, created["id"])]
    assert actions == ["received", "in_progress", "failed", "in_progress", "completed"]
    with world["app"].app_context():
        from crm_core.audit import verify

        assert verify().ok


def test_an_export_is_kept_for_a_limited_time(world):
    from crm_core.privacy.models import PrivacyRequest

    client, dpo, app = world["client"], world["dpo"], world["app"]
    created = _new(world)
    client.post(f"{R}/{created['id']}/process", headers=dpo)
    with app.app_context():
        past = dt.datetime.now(dt.UTC).replace(tzinfo=None) - dt.timedelta(minutes=1)
        PrivacyRequest.update(result_expires_at=past).where(PrivacyRequest.id == created["id"]).execute()
    assert client.get(f"{R}/{created['id']}/export", headers=dpo).status_code == 410
    assert client.get(f"{R}/{created['id']}", headers=dpo).get_json()["export_available"] is False
    with app.app_context():
        result = run_cli(app, "jobs", "run", "core.privacy:exports")
        assert result.exit_code == 0, result.output
        assert PrivacyRequest.get_by_id(created["id"]).result is None


def test_permissions(world):
    client = world["client"]
    assert client.get(R, headers=world["readonly"]).status_code == 403
    # front-line staff log requests but do not answer them
    logged = _new(world, headers=world["north_service"])
    assert client.post(f"{R}/{logged['id']}/process", headers=world["north_service"]).status_code == 403
    assert (
        client.post(
            f"{R}/{logged['id']}/reject", json={"reason": "x"}, headers=world["north_service"]
        ).status_code
        == 403
    )
    # a manager sees and answers the requests of the customers they may read, no others
    south = _new(world, who="south")
    seen = [r["id"] for r in client.get(R, headers=world["north_manager"]).get_json()]
    assert seen == [logged["id"]]
    assert client.get(f"{R}/{south['id']}", headers=world["north_manager"]).status_code == 404
    done = client.post(f"{R}/{logged['id']}/process", headers=world["north_manager"]).get_json()
    assert done["status"] == "completed"
    # answering an erasure also needs customers:delete on the customer
    erasure = _new(world, kind="erasure")
    no_delete = world["headers"]("sam", ("service", "manager"), None)
    assert client.post(f"{R}/{erasure['id']}/process", headers=no_delete).status_code in (403, 404)


def test_cli_lists_and_processes(world):
    app = world["app"]
    late = _new(world, requested_at="2026-01-05T00:00:00Z")
    _new(world, kind="erasure", who="south")
    with app.app_context():
        listed = run_cli(app, "privacy", "requests", "--as", "dpo")
        assert listed.exit_code == 0, listed.output
        assert f"#{late['id']}\taccess" in listed.output and "OVERDUE" in listed.output
        overdue = run_cli(app, "privacy", "requests", "--as", "dpo", "--overdue")
        assert overdue.output.count("#") == 1
        done = run_cli(app, "privacy", "process", str(late["id"]), "--as", "dpo")
        assert done.exit_code == 0 and "completed" in done.output, done.output
        refused = run_cli(app, "privacy", "process", str(late["id"]), "--as", "dpo")
        assert refused.exit_code != 0 and "already completed" in refused.output
        nobody = run_cli(app, "privacy", "requests", "--as", "ghost")
        assert nobody.exit_code != 0
        other = run_cli(app, "privacy", "requests", "--as", "dpo", "--kind", "erasure").output.split("\t")[0]
        rejected = run_cli(
            app, "privacy", "reject", other.lstrip("#"), "--as", "dpo", "--reason", "duplicate"
        )
        assert rejected.exit_code == 0 and "rejected" in rejected.output, rejected.output


# --- consent ------------------------------------------------------------------------------------


def test_consent_history_and_has_consent(world):
    from crm_core.privacy.consent import has_consent

    client, dpo, app = world["client"], world["dpo"], world["app"]
    cid = world["north"]["id"]
    url = f"{API}/customers/{cid}/consents"
    with app.app_context():
        assert has_consent(cid, "marketing") is False  # no record: never assumed
    given = client.post(
        url,
        json={"purpose": "marketing", "status": "given", "source": "web_form", "evidence": "form v3"},
        headers=dpo,
    )
    assert given.status_code == 201, given.get_json()
    assert given.get_json()["legal_basis"] == "consent" and given.get_json()["recorded_by_id"]
    with app.app_context():
        assert has_consent(cid, "marketing") is True and has_consent(cid, "analytics") is False
    withdrawn = client.post(
        url, json={"purpose": "marketing", "status": "withdrawn", "source": "phone"}, headers=dpo
    )
    assert withdrawn.status_code == 201
    history = client.get(url, headers=dpo).get_json()
    assert [c["status"] for c in history] == ["withdrawn", "given"]  # newest first, nothing lost
    with app.app_context():
        assert has_consent(cid, "marketing") is False
        from crm_core.entities.models import Customer

        assert has_consent(Customer.get_by_id(cid), "marketing") is False
    # a paper form dated earlier does not override the later withdrawal
    client.post(
        url,
        json={
            "purpose": "marketing",
            "status": "given",
            "source": "paper",
            "recorded_at": "2020-01-01T00:00:00Z",
        },
        headers=dpo,
    )
    with app.app_context():
        assert has_consent(cid, "marketing") is False
    # in the privacy export, and audited without the evidence
    export = client.get(f"{API}/customers/{cid}/privacy-export", headers=dpo).get_json()
    assert [c["purpose"] for c in export["consents"]] == ["marketing"] * 3
    from crm_core.audit.models import AuditEntry

    with app.app_context():
        entries = AuditEntry.select().where(AuditEntry.action == "consent_recorded")
        assert entries.count() == 3 and all("form v3" not in (e.after or "") for e in entries)


def test_consent_validation_and_permissions(world):
    client, dpo = world["client"], world["dpo"]
    url = f"{API}/customers/{world['north']['id']}/consents"
    r = client.post(
        url, json={"purpose": "Marketing!", "status": "maybe", "legal_basis": "whim"}, headers=dpo
    )
    assert r.status_code == 422 and {"purpose", "status", "legal_basis"} <= set(r.get_json()["errors"])
    ok = client.post(
        url, json={"purpose": "loyalty.sms", "status": "given", "legal_basis": "contract"}, headers=dpo
    )
    assert ok.status_code == 201, ok.get_json()
    assert client.get(url, headers=world["readonly"]).status_code == 200
    assert (
        client.post(
            url, json={"purpose": "marketing", "status": "given"}, headers=world["readonly"]
        ).status_code
        == 403
    )
    south = f"{API}/customers/{world['south']['id']}/consents"
    assert client.get(south, headers=world["north_manager"]).status_code == 404


def test_a_request_outlives_its_deleted_customer(world):
    client, dpo = world["client"], world["dpo"]
    created = _new(world, who="south")
    assert client.delete(f"{API}/customers/{world['south']['id']}", headers=dpo).status_code == 204
    listed = client.get(R, headers=dpo).get_json()
    assert [(r["id"], r["customer_id"]) for r in listed] == [(created["id"], None)]
    r = client.post(f"{R}/{created['id']}/process", headers={**dpo, **ZH})
    assert r.status_code == 409 and r.get_json()["message"] == "此请求的客户已不存在。"
    assert client.get(R, headers=world["north_manager"]).get_json() == []


def test_extending_a_request_once(world):
    client, dpo = world["client"], world["dpo"]
    created = _new(world, requested_at="2026-01-31T10:00:00Z")
    assert (
        client.post(f"{R}/{created['id']}/extend", json={"months": 3, "reason": "x"}, headers=dpo).status_code
        == 422
    )
    r = client.post(f"{R}/{created['id']}/extend", json={"reason": "a complex request"}, headers=dpo)
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert body["due_at"] == "2026-04-28T10:00:00Z"  # 28 February, then two more months
    assert body["extension_reason"] == "a complex request" and body["extended_at"]
    again = client.post(f"{R}/{created['id']}/extend", json={"reason": "more"}, headers={**dpo, **ZH})
    assert again.status_code == 409 and again.get_json()["message"] == "此请求已延期过一次。"
    actions = _audit(world, created["id"])
    assert actions[-1][0] == "extended" and actions[-1][1]["due_at"].startswith("2026-04-28")
    assert "a complex request" not in json.dumps(actions)  # the reason stays on the request
    assert (
        client.post(
            f"{R}/{created['id']}/extend", json={"reason": "x"}, headers=world["north_service"]
        ).status_code
        == 403
    )


def test_only_the_handler_downloads_the_export_made_with_their_view(world):
    client, dpo = world["client"], world["dpo"]
    created = _new(world)
    assert client.post(f"{R}/{created['id']}/process", headers=dpo).status_code == 200
    # a manager of the customer's department may read the request, not the admin's export of it
    manager = world["north_manager"]
    assert client.get(f"{R}/{created['id']}", headers=manager).status_code == 200
    for suffix in ("export", "export.html"):
        r = client.get(f"{R}/{created['id']}/{suffix}", headers=manager)
        assert r.status_code == 403, r.get_json()
        assert world["north"]["email"] not in r.get_data(as_text=True)
    r = client.get(f"{R}/{created['id']}/export", headers={**manager, **ZH})
    assert r.status_code == 403 and "处理" in r.get_json()["message"]
    assert client.get(f"{R}/{created['id']}/export", headers=dpo).status_code == 200
