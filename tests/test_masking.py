"""The ``masked`` field rule, through HTTP: a front desk that may see phones and identity numbers only
partly (138****5678, 110105********1234) sees them so in lists, detail, exports, the timeline,
webhook payloads and the audit view; an admin sees them whole; a masked field is never searched,
filtered or sorted on, nor written (the masked string sent back never overwrites the value); two
roles combine to the more permissive rule; the patterns follow the field's name or its values."""

from __future__ import annotations

import csv
import io
import json

import pytest

from crm_core.auth.models import Role
from crm_core.browser_testing import post_form, web_login
from crm_core.permissions.models import Grant
from crm_core.testing import deliver_events
from crm_core.webhooks.models import WebhookDelivery

API = "/api/v1"
PHONE, MASKED_PHONE = "13812345678", "+86 138****5678"
ID_NUMBER, MASKED_ID = "110105199001011234", "110105********1234"


@pytest.fixture
def app_config(app_config):
    # the desk's webhook subscription points at a local address (its deliveries are never sent)
    return {**app_config, "WEBHOOK_ALLOW_PRIVATE_URLS": True}


def _role(client, headers, name, rules, grants=None):
    body = {
        "name": name,
        "grants": grants
        or [
            {"resource": "customers", "action": "*", "scope": "all"},
            {"resource": "activities", "action": "read", "scope": "all"},
            {"resource": "webhooks", "action": "*", "scope": "all"},
            {"resource": "audit", "action": "read", "scope": "all"},
        ],
        "field_rules": [{"resource": res, "field": field, "rule": rule} for res, field, rule in rules],
    }
    r = client.post(f"{API}/roles", json=body, headers=headers)
    assert r.status_code == 201, r.get_json()
    return r.get_json()


@pytest.fixture
def desk(client, admin_headers, make_user):
    """A ``front_desk`` user (phone, id_number and activity subjects masked) and a customer."""
    r = client.post(
        f"{API}/fields/customers", json={"name": "id_number", "type": "string"}, headers=admin_headers
    )
    assert r.status_code == 201, r.get_json()
    _role(
        client,
        admin_headers,
        "front_desk",
        [
            ("customers", "phone", "masked"),
            ("customers", "id_number", "masked"),
            ("activities", "subject", "masked"),
        ],
    )
    _user, headers = make_user("desk", roles=("front_desk",))
    body = {
        "name": "张三丰",
        "phone": PHONE,
        "email": "zhang@example.com",
        "custom": {"id_number": ID_NUMBER},
    }
    r = client.post(f"{API}/customers", json=body, headers=admin_headers)
    assert r.status_code == 201, r.get_json()
    return headers, r.get_json()["id"]


def test_a_masked_phone_is_shown_partly_on_every_read_path_and_whole_to_an_admin(client, admin_headers, desk):
    headers, cid = desk
    sub = client.post(
        f"{API}/webhooks", json={"url": "http://127.0.0.1:9/hook", "events": ["customer.*"]}, headers=headers
    )
    assert sub.status_code == 201, sub.get_json()
    r = client.post(
        f"{API}/activities",
        json={"customer_id": cid, "kind": "call", "subject": "Called back"},
        headers=admin_headers,
    )
    assert r.status_code == 201, r.get_json()
    assert (
        client.patch(f"{API}/customers/{cid}", json={"name": "张三"}, headers=admin_headers).status_code
        == 200
    )

    listed = client.get(f"{API}/customers", headers=headers).get_json()
    assert [(c["phone"], c["custom"]["id_number"]) for c in listed] == [(MASKED_PHONE, MASKED_ID)]
    detail = client.get(f"{API}/customers/{cid}", headers=headers).get_json()
    assert detail["phone"] == MASKED_PHONE and detail["custom"]["id_number"] == MASKED_ID
    assert detail["email"] == "zhang@example.com"  # not masked for the desk
    export = client.get(f"{API}/customers/export?format=csv", headers=headers)
    assert export.status_code == 200
    row = next(csv.DictReader(io.StringIO(export.get_data(as_text=True).lstrip("\ufeff"))))
    # (a cell starting with + gets a leading ' in exports: no spreadsheet reads it as a formula)
    assert row["phone"] == "'" + MASKED_PHONE and row["custom.id_number"] == MASKED_ID
    timeline = client.get(f"{API}/customers/{cid}/timeline", headers=headers).get_json()
    assert [i["title"] for i in timeline if i["object"] == "activities"] == ["C*********k"]
    deliver_events()
    payloads = [
        json.loads(d.payload)
        for d in WebhookDelivery.select().where(WebhookDelivery.subscription == sub.get_json()["id"])
    ]
    assert payloads, "the desk's subscription got the update"
    for payload in payloads:
        image = payload["data"]["object"]
        assert image["phone"] == MASKED_PHONE and image["custom"]["id_number"] == MASKED_ID
    audit = client.get(f"{API}/audit?resource=customers&record_id={cid}", headers=headers).get_json()
    images = [e[side] for e in audit for side in ("before", "after") if e[side] and "phone" in e[side]]
    assert images and all(i["phone"] == MASKED_PHONE for i in images)
    for body in (listed, detail, row, timeline, payloads, audit):
        assert "12345678" not in json.dumps(body, ensure_ascii=False) and ID_NUMBER not in json.dumps(body)

    whole = client.get(f"{API}/customers/{cid}", headers=admin_headers).get_json()
    assert whole["phone"] == "+86" + PHONE and whole["custom"]["id_number"] == ID_NUMBER


def test_the_workbench_shows_masked_values_and_offers_them_as_text(app, client, desk):
    _headers, cid = desk
    web = app.test_client()
    assert web_login(web, "desk").status_code == 302
    page = web.get(f"/records/customers/{cid}").get_data(as_text=True)
    assert MASKED_PHONE in page and PHONE not in page and MASKED_ID in page
    form = web.get(f"/records/customers/{cid}/edit").get_data(as_text=True)
    assert 'name="phone"' not in form and MASKED_PHONE in form  # shown, not an input
    # the reference picker shows the phone as a masked hint, and never searches it
    picked = web.get("/lookup/customers?q=张").get_json()["results"]
    assert [(r["id"], r["hint"]) for r in picked] == [(cid, MASKED_PHONE + " · zhang@example.com")]
    assert web.get("/lookup/customers?q=1381234").get_json()["results"] == []
    assert PHONE not in web.get("/search?q=1381234").get_data(as_text=True)


def test_a_masked_field_is_never_searched_filtered_or_sorted_on(client, admin_headers, desk):
    headers, _cid = desk
    assert client.get(f"{API}/customers?q=1381234", headers=headers).get_json() == []
    assert len(client.get(f"{API}/customers?q=1381234", headers=admin_headers).get_json()) == 1
    for query in (
        "phone=%2B8613812345678",
        "phone__contains=138",
        "sort=phone",
        "sort=-phone",
        # a masked custom field as well (one could recover it by filtering a prefix at a time)
        f"id_number={ID_NUMBER}",
        "id_number__contains=110105",
        "sort=id_number",
    ):
        r = client.get(f"{API}/customers?{query}", headers=headers)
        assert r.status_code == 400 and r.get_json()["errors"], query
        assert client.get(f"{API}/customers?{query}", headers=admin_headers).status_code == 200


def test_the_masked_value_sent_back_never_overwrites_the_real_one(client, admin_headers, desk):
    headers, cid = desk
    shown = client.get(f"{API}/customers/{cid}", headers=headers).get_json()
    # a masked field is not writable (like a read-only one): refused whatever the value...
    for change, field in (
        ({"phone": "13900001111"}, "phone"),
        ({"custom": {"id_number": MASKED_ID}}, "id_number"),
    ):
        r = client.patch(f"{API}/customers/{cid}", json=change, headers=headers)
        assert r.status_code == 403, (change, r.get_json())
        assert r.get_json()["errors"][field] == ["This field is masked for you."]
    # ...and the masked phone is not even a phone number
    r = client.patch(f"{API}/customers/{cid}", json={"phone": shown["phone"]}, headers=headers)
    assert r.status_code == 422 and "phone" in r.get_json()["errors"]
    # the rest of the record stays writable
    assert client.patch(f"{API}/customers/{cid}", json={"name": "张三"}, headers=headers).status_code == 200
    whole = client.get(f"{API}/customers/{cid}", headers=admin_headers).get_json()
    assert whole["phone"] == "+86" + PHONE and whole["custom"]["id_number"] == ID_NUMBER


@pytest.mark.parametrize(
    "other, seen",
    [
        ("read-only", "+86" + PHONE),  # visible beats masked
        (None, "+86" + PHONE),  # a role without a rule shows it whole
        ("hidden", MASKED_PHONE),  # masked beats hidden
        ("masked", MASKED_PHONE),
    ],
)
def test_two_roles_combine_to_the_more_permissive_rule(client, admin_headers, make_user, desk, other, seen):
    _headers, cid = desk
    _role(client, admin_headers, "other", [("customers", "phone", other)] if other else [])
    _user, both = make_user("both", roles=("front_desk", "other"))
    assert client.get(f"{API}/customers/{cid}", headers=both).get_json()["phone"] == seen


def test_hidden_alone_still_hides(client, admin_headers, make_user, desk):
    _headers, cid = desk
    _role(client, admin_headers, "blind", [("customers", "phone", "hidden")])
    _user, blind = make_user("blind_user", roles=("blind",))
    assert "phone" not in client.get(f"{API}/customers/{cid}", headers=blind).get_json()


@pytest.mark.parametrize(
    "name, field_type, value, expected",
    [
        ("mobile", "string", "13812345678", "138****5678"),  # by name: phone
        ("backup", "phone", "13912345678", "+86 139****5678"),  # by type (its E.164 values)
        ("id_card", "string", "11010519900101123X", "110105********123X"),  # by name: identity
        ("passport", "string", "E12345678", "E********"),  # identity, too short for 6 + 4
        ("contact", "email", "zhang@example.com", "z****@example.com"),  # by type: e-mail
        ("work_email", "string", "li@example.org", "l*@example.org"),  # by name: e-mail
        ("nick_name", "string", "张三丰", "张**"),  # names keep the surname
        ("note", "string", "hello", "h***o"),  # other text: first and last
        ("code", "string", "ab", "a*"),  # too short for both ends: the first only
        ("score", "int", 42, "4*"),  # not text: masked as its text
    ],
)
def test_the_pattern_follows_the_field_name_or_its_values(
    client, admin_headers, make_user, name, field_type, value, expected
):
    r = client.post(f"{API}/fields/customers", json={"name": name, "type": field_type}, headers=admin_headers)
    assert r.status_code == 201, r.get_json()
    _role(client, admin_headers, "masker", [("customers", name, "masked")])
    _user, headers = make_user("masked_reader", roles=("masker",))
    r = client.post(f"{API}/customers", json={"name": "P", "custom": {name: value}}, headers=admin_headers)
    assert r.status_code == 201, r.get_json()
    got = client.get(f"{API}/customers/{r.get_json()['id']}", headers=headers).get_json()["custom"][name]
    assert got == expected


def test_the_roles_api_offers_masked_and_refuses_what_cannot_be_masked(client, admin_headers):
    offered = client.get(f"{API}/permissions", headers=admin_headers).get_json()["field_rules"]
    assert offered == ["hidden", "masked", "masked-writable", "read-only"]
    grants = [{"resource": "customers", "action": "read", "scope": "all"}]
    r = client.post(
        f"{API}/roles",
        json={
            "name": "bad",
            "grants": grants,
            "field_rules": [{"resource": "customers", "field": "id", "rule": "masked"}],
        },
        headers=admin_headers,
    )
    assert r.status_code == 422 and r.get_json()["errors"]["field_rules.0"] == [
        "The id cannot be masked (hide it instead)."
    ]
    r = client.post(
        f"{API}/roles",
        json={
            "name": "bad",
            "grants": grants,
            "field_rules": [{"resource": "customers", "field": "phone", "rule": "blurred"}],
        },
        headers=admin_headers,
    )
    assert r.status_code == 422 and "field_rules" in r.get_json()["errors"]


def test_a_role_with_a_masked_field_cannot_hand_out_the_whole_value(client, admin_headers, make_user, desk):
    """No escalation: a desk allowed to edit roles cannot make one that shows phones whole."""
    _role(
        client,
        admin_headers,
        "desk_admin",
        [("customers", "phone", "masked")],
        grants=[
            {"resource": "customers", "action": "read", "scope": "all"},
            {"resource": "roles", "action": "*", "scope": "all"},
        ],
    )
    _user, headers = make_user("desk_boss", roles=("desk_admin",))
    grants = [{"resource": "customers", "action": "read", "scope": "all"}]
    for rules in ([], [{"resource": "customers", "field": "phone", "rule": "read-only"}]):
        r = client.post(
            f"{API}/roles", json={"name": "leaky", "grants": grants, "field_rules": rules}, headers=headers
        )
        assert r.status_code == 403, r.get_json()
    masked = [{"resource": "customers", "field": "phone", "rule": "masked"}]
    r = client.post(
        f"{API}/roles", json={"name": "fine", "grants": grants, "field_rules": masked}, headers=headers
    )
    assert r.status_code == 201, r.get_json()


def test_the_role_editor_offers_masked_in_english_and_chinese(app, client, make_user, desk):
    _user, _h = make_user("boss", roles=("admin",))
    web = app.test_client()
    web_login(web, "boss")
    role = next(r for r in client.get(f"{API}/roles", headers=_h).get_json() if r["name"] == "front_desk")
    page = web.get(f"/admin/roles/{role['id']}").get_data(as_text=True)
    assert 'value="masked" selected>masked (shown partly)</option>' in page
    post_form(web, "/language", {"language": "zh_CN", "next": "/"}, page="/")
    page = web.get(f"/admin/roles/{role['id']}").get_data(as_text=True)
    assert ">脱敏（部分显示）</option>" in page and "脱敏字段只显示一部分" in page


def test_the_roles_command_sets_masked_rules_and_refuses_a_masked_id(app, client, admin_headers, make_user):
    from click.testing import CliRunner

    from crm_core.cli import build_cli

    env = {"CRM_DATABASE_URL": app.config["DATABASE_URL"], "CRM_INSTANCE_PATH": app.config["INSTANCE_PATH"]}

    def crm(*args):
        return CliRunner().invoke(build_cli(), list(args), env=env)

    assert crm("roles", "create", "reception").exit_code == 0
    assert crm("roles", "grant", "reception", "customers", "read", "all").exit_code == 0
    done = crm("roles", "field-rule", "reception", "customers", "phone", "masked")
    assert done.exit_code == 0 and "customers.phone masked" in done.output
    refused = crm("roles", "field-rule", "reception", "customers", "id", "masked")
    assert refused.exit_code == 1 and "The id cannot be masked (hide it instead)." in refused.output
    _user, headers = make_user("receptionist", roles=("reception",))
    r = client.post(f"{API}/customers", json={"name": "Li", "phone": PHONE}, headers=admin_headers)
    assert (
        client.get(f"{API}/customers/{r.get_json()['id']}", headers=headers).get_json()["phone"]
        == MASKED_PHONE
    )


def test_a_masked_amount_is_not_summed_on_the_pipeline(client, admin_headers, make_user):
    _role(
        client,
        admin_headers,
        "deal_viewer",
        [("deals", "amount", "masked")],
        grants=[{"resource": "deals", "action": "read", "scope": "all"}],
    )
    # pipelines are not offered by the roles API (an existing gap): granted on the table
    Grant.create(role=Role.get(Role.name == "deal_viewer"), resource="pipelines", action="read", scope="all")
    _user, headers = make_user("viewer", roles=("deal_viewer",))
    body = {"name": "Sales", "is_default": True, "stages": [{"name": "Lead"}, {"name": "Won", "kind": "won"}]}
    pipeline = client.post(f"{API}/pipelines", json=body, headers=admin_headers).get_json()
    r = client.post(f"{API}/deals", json={"title": "only one", "amount": "98765.43"}, headers=admin_headers)
    assert r.status_code == 201, r.get_json()
    summary = client.get(f"{API}/pipelines/{pipeline['id']}/summary", headers=headers)
    assert summary.status_code == 200, summary.get_json()
    assert all(s["amount"] is None for s in summary.get_json()) and "98765" not in summary.get_data(
        as_text=True
    )
    whole = client.get(f"{API}/pipelines/{pipeline['id']}/summary", headers=admin_headers).get_json()
    assert any(s["amount"] == "98765.43" for s in whole)
