"""Generic forms that work: empty optional fields, references by name, pickers, refused references.

Issue 15 saw: clearing (or leaving empty) an optional text field sent ``null`` and was refused
with ``Field may not be null.`` (a ticket created without a description could never be edited);
owner, department, customer, company, pipeline and stage were number boxes and lists showed
``#201``, ``部门 2``, a parent ``2`` and the path ``/1/2/3/``; an owner (or assignee) id that does
not exist was saved. These tests go through the HTTP test client (pages, the picker endpoint and
the API).
"""

from __future__ import annotations

import re

import pytest

from crm_core.auth.models import Role
from crm_core.browser_testing import post_form, web_login
from crm_core.directory.departments import create_department
from crm_core.permissions.models import FieldRule, Grant

API = "/api/v1"


@pytest.fixture
def world(app, client, make_user):
    """Departments 总部 / 华东 / 上海 and 北京; an admin (logged in on ``client``), two sales reps
    (上海 and 北京), a pipeline with stages, customers, a company tree and deals."""
    hq = create_department("总部")
    east = create_department("华东", hq.id)
    shanghai = create_department("上海", east.id)
    beijing = create_department("北京", hq.id)
    admin, h = make_user("boss", roles=("admin",), name="王老板")
    rep, rep_h = make_user("rep", roles=("sales",), department_id=shanghai.id, name="李销售")
    other, other_h = make_user("other", roles=("sales",), department_id=beijing.id, name="赵销售")
    api = app.test_client()

    def post(path, body, headers=h):
        r = api.post(f"{API}/{path}", json=body, headers=headers)
        assert r.status_code == 201, (path, r.get_json())
        return r.get_json()

    pipeline = post(
        "pipelines",
        {"name": "Retail", "is_default": True, "stages": [{"name": "Lead"}, {"name": "Won", "kind": "won"}]},
    )
    second = post("pipelines", {"name": "Wholesale", "stages": [{"name": "Contacted"}]})
    mine = post("customers", {"name": "周杰", "phone": "13800138000"}, rep_h)
    mine2 = post("customers", {"name": "周星", "phone": "13900139000"}, rep_h)
    theirs = post("customers", {"name": "钱外人"}, other_h)
    parent = post("companies", {"name": "华东总代"}, rep_h)
    child = post("companies", {"name": "上海分销", "parent_id": parent["id"]}, rep_h)
    deal = post(
        "deals",
        {
            "title": "Spring order",
            "customer_id": mine["id"],
            "company_id": child["id"],
            "pipeline_id": pipeline["id"],
            "stage_id": pipeline["stages"][0]["id"],
        },
        rep_h,
    )
    web_login(client, "boss")
    return {
        "h": h,
        "api": api,
        "admin": admin,
        "rep": rep,
        "rep_h": rep_h,
        "other": other,
        "other_h": other_h,
        "depts": {"hq": hq.id, "east": east.id, "shanghai": shanghai.id, "beijing": beijing.id},
        "pipeline": pipeline,
        "second": second,
        "mine": mine["id"],
        "mine2": mine2["id"],
        "theirs": theirs["id"],
        "parent": parent["id"],
        "child": child["id"],
        "deal": deal["id"],
    }


def login(app, username):
    other = app.test_client()
    assert web_login(other, username).status_code == 302
    return other


def _saved(response):
    assert response.status_code == 302, re.findall(
        r"crm-field-error[^>]*>([^<]*)<", response.get_data(as_text=True)
    )
    return response.headers["Location"]


# --- empty optional fields ---------------------------------------------------------------------


def test_a_ticket_created_without_a_description_can_be_edited(client, world):
    r = post_form(client, "/records/tickets/new", {"title": "Printer jam"})
    location = _saved(r)
    ticket_id = int(location.rsplit("/", 1)[1])
    # the edit form posts every input, the empty description included
    r = post_form(client, f"{location}/edit", {"title": "Printer jammed", "description": ""})
    html = r.get_data(as_text=True)
    assert "may not be null" not in html
    _saved(r)
    got = world["api"].get(f"{API}/tickets/{ticket_id}", headers=world["h"]).get_json()
    assert got["title"] == "Printer jammed" and got["description"] == ""
    # clearing a description that had text
    r = post_form(client, f"{location}/edit", {"title": "Printer jammed", "description": "paper"})
    _saved(r)
    r = post_form(client, f"{location}/edit", {"title": "Printer jammed", "description": ""})
    _saved(r)
    assert world["api"].get(f"{API}/tickets/{ticket_id}", headers=world["h"]).get_json()["description"] == ""


def test_the_api_takes_null_for_an_optional_text_as_empty(world):
    api, h = world["api"], world["h"]
    ticket = api.post(
        f"{API}/tickets", json={"title": "No text", "description": "first"}, headers=h
    ).get_json()
    r = api.patch(f"{API}/tickets/{ticket['id']}", json={"description": None}, headers=h)
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["description"] == ""
    r = api.post(f"{API}/segments", json={"name": "All", "filters": {}, "description": None}, headers=h)
    assert r.status_code == 201 and r.get_json()["description"] == "", r.get_json()


def _submit(app, resource, actor_user, values, record=None):
    """The generic form layer (``crm_core.web.forms.submit``) as a page calls it."""
    from werkzeug.datastructures import MultiDict

    from crm_core.auth import actor_for_user
    from crm_core.web import forms
    from crm_core.web.registry import fields_for, get_resource, hidden_fields

    with app.test_request_context("/"):
        actor = actor_for_user(actor_user)
        res = get_resource(resource)
        form = MultiDict(values)
        return forms.submit(
            res,
            actor,
            fields_for(res, actor, for_form=True),
            form.get,
            form.getlist,
            record=res.crud.get(record.id, actor, "update") if record is not None else None,
            hidden=hidden_fields(res, actor),
        )


def test_segments_and_automations_with_an_empty_description_save(app, world):
    segment = _submit(
        app, "segments", world["admin"], {"name": "VIPs", "filters": '{"lifecycle_stage": "vip"}'}
    )
    saved = _submit(
        app, "segments", world["admin"], {"name": "VIPs", "description": "", "filters": "{}"}, record=segment
    )
    assert saved.description == ""
    rule = _submit(
        app,
        "automations",
        world["admin"],
        {
            "name": "Tag VIPs",
            "trigger": "customer.created",
            "actions": '[{"type": "add_tag", "params": {"tag": "vip"}}]',
        },
    )
    saved = _submit(app, "automations", world["admin"], {"name": "Tag VIPs", "description": ""}, record=rule)
    assert saved.description == ""


def test_plugin_records_with_empty_optional_fields_save_through_the_generic_form(app, client, world):
    from crm_core.web.registry import cruds

    with app.test_request_context("/"):
        known = set(cruds())
    if "channel_tracking.campaigns" in known:
        r = post_form(
            client,
            "/records/channel_tracking.campaigns/new",
            {"name": "Double 11", "utm_campaign": "d11", "utm_source": ""},
        )
        location = _saved(r)
        r = post_form(
            client,
            f"{location}/edit",
            {"name": "Double 11", "utm_campaign": "d11", "utm_source": "", "utm_medium": "", "kol": ""},
        )
        assert "may not be null" not in r.get_data(as_text=True)
        _saved(r)
    if "loyalty.tiers" in known:
        tier = _submit(
            app,
            "loyalty.tiers",
            world["admin"],
            {"code": "gold", "name": "Gold", "rank": "10", "window": "lifetime"},
        )
        saved = _submit(
            app, "loyalty.tiers", world["admin"], {"name": "Gold", "description": "", "window_days": ""}, tier
        )
        assert saved.description == "" and saved.window_days is None
    assert known & {"channel_tracking.campaigns", "loyalty.tiers"}


def test_a_field_that_cannot_be_emptied_says_so(client, world):
    r = post_form(client, "/records/tickets/new", {"title": "Urgent one"})
    location = _saved(r)
    r = post_form(client, f"{location}/edit", {"title": "Urgent one", "priority": ""})
    html = r.get_data(as_text=True)
    assert r.status_code == 422 and "This field cannot be empty." in html


# --- names, not ids ------------------------------------------------------------------------------


def test_lists_and_details_show_names_not_ids(client, world):
    html = client.get("/records/deals/").get_data(as_text=True)
    for name in ("周杰", "上海分销", "Retail", "Lead", "李销售", "总部 / 华东 / 上海"):
        assert name in html, name
    html = client.get("/records/customers/").get_data(as_text=True)
    for name in ("李销售", "总部 / 华东 / 上海"):
        assert name in html, name
    assert f"#{world['rep'].id}<" not in html and ">部门" not in html
    html = client.get(f"/records/deals/{world['deal']}").get_data(as_text=True)
    for name in ("李销售", "周杰", "上海分销", "Retail", "Lead", "总部 / 华东 / 上海"):
        assert name in html, name
    # a parent company and the company path by name, not "2" and "/1/2/"
    html = client.get(f"/records/companies/{world['child']}").get_data(as_text=True)
    assert "华东总代" in html and "华东总代 / 上海分销" in html
    assert f"/{world['parent']}/{world['child']}/" not in html
    html = client.get("/records/companies/").get_data(as_text=True)
    assert "华东总代 / 上海分销" in html


def test_names_keep_hidden_fields_and_other_scopes_out(app, client, world):
    # a deal of the rep's on a customer of another department: the rep sees the deal, not the name
    from crm_core.entities.models import Deal

    Deal.update(customer=world["theirs"]).where(Deal.id == world["deal"]).execute()
    rep = login(app, "rep")
    html = rep.get(f"/records/deals/{world['deal']}").get_data(as_text=True)
    assert "钱外人" not in html and f"#{world['theirs']}" in html
    # a role that hides customer names: deals show the reference as its id only
    role = Role.create(name="blind")
    Grant.create(role=role, resource="*", action="read", scope="all")
    FieldRule.create(role=role, resource="customers", field="name", rule="hidden")
    FieldRule.create(role=role, resource="customers", field="phone", rule="hidden")
    from crm_core.auth import create_user
    from crm_core.testing import TEST_PASSWORD

    create_user("blind", TEST_PASSWORD, roles=("blind",))
    blind = login(app, "blind")
    Deal.update(customer=world["mine"]).where(Deal.id == world["deal"]).execute()
    html = blind.get("/records/deals/").get_data(as_text=True)
    assert "周杰" not in html and f"#{world['mine']}" in html
    answer = blind.get("/lookup/customers?q=").get_json()
    assert all(entry["label"] == f"#{entry['id']}" for entry in answer["results"])
    assert "周杰" not in str(answer)
    # and searching by the hidden name (or phone) finds nothing; no hint carries the phone
    assert blind.get("/lookup/customers?q=周杰").get_json()["results"] == []
    assert blind.get("/lookup/customers?q=13800").get_json()["results"] == []
    assert "13800138000" not in str(answer)


def test_forms_offer_pickers_not_number_boxes(client, world):
    html = client.get(f"/records/deals/{world['deal']}/edit").get_data(as_text=True)
    for name in ("owner_id", "department_id", "customer_id", "company_id", "pipeline_id", "stage_id"):
        assert f'type="number" name="{name}"' not in html, name
        assert re.search(rf'<input type="hidden" name="{name}" value="\d*" data-picker-value>', html), name
    assert 'data-lookup="/lookup/customers"' in html and 'data-lookup="/lookup/users"' in html
    assert 'data-lookup="/lookup/stages"' in html and 'data-depends="pipeline_id"' in html
    # the chosen records are shown by name
    for name in ("李销售", "周杰", "上海分销", "Retail", "Lead", "总部 / 华东 / 上海"):
        assert f'value="{name}"' in html, name
    assert "/static/crm/picker.js" in html
    # a new record's owner starts as the user, shown by name
    html = client.get("/records/customers/new").get_data(as_text=True)
    assert re.search(rf'name="owner_id" value="{world["admin"].id}"', html) and 'value="王老板"' in html
    # the list filters by owner and department with pickers too
    html = client.get(f"/records/customers/?owner_id={world['other'].id}").get_data(as_text=True)
    assert 'data-lookup="/lookup/users"' in html and 'data-lookup="/lookup/departments"' in html
    assert 'value="赵销售"' in html and "钱外人" in html and "周杰" not in html


# --- the picker endpoint ------------------------------------------------------------------------


def test_the_picker_of_a_scoped_rep_holds_only_what_they_may_read(app, world):
    rep = login(app, "rep")
    found = rep.get("/lookup/customers?q=").get_json()["results"]
    assert {e["id"] for e in found} == {world["mine"], world["mine2"]}
    assert rep.get("/lookup/customers?q=钱").get_json()["results"] == []
    assert [e["id"] for e in rep.get("/lookup/customers?q=周杰").get_json()["results"]] == [world["mine"]]
    # by phone digits too, with the phone as the hint
    hit = rep.get("/lookup/customers?q=13900").get_json()["results"]
    assert [e["id"] for e in hit] == [world["mine2"]] and "13900139000" in hit[0]["hint"]
    # users of their own department only (sales: users:read in the department)
    users = rep.get("/lookup/users?q=").get_json()["results"]
    assert {e["label"] for e in users} == {"李销售"}
    # departments by their path of names
    depts = {e["id"]: e["label"] for e in rep.get("/lookup/departments?q=").get_json()["results"]}
    assert depts[world["depts"]["shanghai"]] == "总部 / 华东 / 上海"
    # a user who left is no longer offered, but still named on what they owned
    from crm_core.auth.models import User

    User.update(is_active=False).where(User.id == world["rep"].id).execute()
    admin = login(app, "boss")
    assert "李销售" not in str(admin.get("/lookup/users?q=").get_json())
    assert "李销售" in admin.get(f"/records/customers/{world['mine']}").get_data(as_text=True)
    # the admin sees every customer
    admin = login(app, "boss")
    every = {e["id"] for e in admin.get("/lookup/customers").get_json()["results"]}
    assert {world["mine"], world["mine2"], world["theirs"]} <= every


def test_the_stage_picker_follows_the_chosen_pipeline(app, client, world):
    first = {
        e["label"]
        for e in client.get(f"/lookup/stages?pipeline_id={world['pipeline']['id']}").get_json()["results"]
    }
    second = {
        e["label"]
        for e in client.get(f"/lookup/stages?pipeline_id={world['second']['id']}").get_json()["results"]
    }
    assert first == {"Lead", "Won"} and second == {"Contacted"}


def test_the_picker_takes_any_text(client, world):
    for q in ("9" * 30, "%", "_", "' OR 1=1 --", "周" * 500):
        r = client.get("/lookup/customers", query_string={"q": q})
        assert r.status_code == 200 and isinstance(r.get_json()["results"], list), q
    r = client.get("/lookup/stages", query_string={"pipeline_id": "9" * 30})
    assert r.status_code == 200
    # (a number past 64 bits never reaches the form: crm_core.inputs answers 422 for it)
    r = post_form(client, "/records/tickets/new", {"title": "Huge", "assignee_id": "9" * 30})
    assert r.status_code == 422


def test_the_picker_endpoint_needs_a_login_and_a_read_grant(app, world, make_user):
    anonymous = app.test_client()
    assert anonymous.get("/lookup/customers").status_code == 302
    make_user("nobody", roles=())
    nobody = login(app, "nobody")
    assert nobody.get("/lookup/customers").status_code == 403
    assert login(app, "boss").get("/lookup/no_such_thing").status_code == 404


# --- references that do not exist ----------------------------------------------------------------


def test_an_owner_or_assignee_that_does_not_exist_is_refused(client, world):
    api, h = world["api"], world["h"]
    r = api.post(f"{API}/customers", json={"name": "Ghost owned", "owner_id": 9999}, headers=h)
    assert r.status_code == 422 and "owner_id" in r.get_json()["errors"]
    r = api.post(f"{API}/tickets", json={"title": "Ghost assigned", "assignee_id": 9999}, headers=h)
    assert r.status_code == 422 and "assignee_id" in r.get_json()["errors"]
    r = post_form(client, "/records/customers/new", {"name": "Ghost owned", "owner_id": "9999"})
    html = r.get_data(as_text=True)
    assert r.status_code == 422 and 'data-field="owner_id"' in html
    r = post_form(client, "/records/tickets/new", {"title": "Ghost assigned", "assignee_id": "9999"})
    html = r.get_data(as_text=True)
    assert r.status_code == 422 and re.search(r'crm-field-error" data-field="assignee_id">[^<]+<', html)
    got = api.get(f"{API}/tickets?q=Ghost", headers=h).get_json()
    assert not [
        t for t in (got if isinstance(got, list) else got.get("items", [])) if t["title"] == "Ghost assigned"
    ]
    # a typed text instead of an id is refused with a message, not a 400
    r = post_form(client, "/records/tickets/new", {"title": "Typed", "assignee_id": "王老板"})
    assert r.status_code == 422 and "Choose an entry from the list." in r.get_data(as_text=True)


def test_a_reference_the_writer_cannot_read_is_refused_like_a_missing_one(world):
    api = world["api"]
    # the rep (users:read in their department) may not assign a ticket to the other department
    Grant.create(role=Role.get(Role.name == "sales"), resource="tickets", action="create", scope="own")
    headers = world["rep_h"]
    r = api.post(
        f"{API}/tickets", json={"title": "Hand over", "assignee_id": world["other"].id}, headers=headers
    )
    missing = api.post(f"{API}/tickets", json={"title": "Hand over", "assignee_id": 987654}, headers=headers)
    assert r.status_code == missing.status_code == 422, (r.get_json(), missing.get_json())
    outside = r.get_json()["errors"]["assignee_id"][0].replace(str(world["other"].id), "N")
    assert outside == missing.get_json()["errors"]["assignee_id"][0].replace("987654", "N")
    ok = api.post(f"{API}/tickets", json={"title": "Mine", "assignee_id": world["rep"].id}, headers=headers)
    assert ok.status_code == 201, ok.get_json()


def test_a_new_owner_brings_the_record_to_their_department_and_a_new_pipeline_its_first_stage(client, world):
    api, h = world["api"], world["h"]
    customer = api.get(f"{API}/customers/{world['mine']}", headers=h).get_json()
    r = post_form(
        client,
        f"/records/customers/{world['mine']}/edit",
        {
            "name": customer["name"],
            "owner_id": str(world["other"].id),
            "department_id": str(customer["department_id"]),
        },
    )
    _saved(r)
    moved = api.get(f"{API}/customers/{world['mine']}", headers=h).get_json()
    assert moved["owner_id"] == world["other"].id and moved["department_id"] == world["depts"]["beijing"]
    # the stage picker is emptied when the pipeline changes: the deal goes to the new first stage
    r = post_form(
        client,
        f"/records/deals/{world['deal']}/edit",
        {"title": "Spring order", "pipeline_id": str(world["second"]["id"]), "stage_id": ""},
    )
    _saved(r)
    deal = api.get(f"{API}/deals/{world['deal']}", headers=h).get_json()
    assert deal["pipeline_id"] == world["second"]["id"]
    assert deal["stage_id"] == world["second"]["stages"][0]["id"]


def test_custom_reference_fields_get_a_picker_and_show_a_name(client, world):
    api, h = world["api"], world["h"]
    r = api.post(
        f"{API}/fields/customers",
        json={"name": "dealer", "type": "reference", "reference": "companies", "label": {"en": "Dealer"}},
        headers=h,
    )
    assert r.status_code == 201, r.get_json()
    html = client.get(f"/records/customers/{world['mine2']}/edit").get_data(as_text=True)
    assert 'data-lookup="/lookup/companies"' in html and 'name="custom.dealer"' in html
    customer = api.get(f"{API}/customers/{world['mine2']}", headers=h).get_json()
    r = post_form(
        client,
        f"/records/customers/{world['mine2']}/edit",
        {"name": customer["name"], "custom.dealer": str(world["parent"])},
    )
    _saved(r)
    html = client.get(f"/records/customers/{world['mine2']}").get_data(as_text=True)
    assert "华东总代" in html


def test_plugin_references_are_pickers_and_names_too(app, client, world):
    from crm_core.web.registry import cruds

    with app.test_request_context("/"):
        known = set(cruds())
    assert "channel_tracking.campaigns" in known, "the channel tracking plugin is installed with the core"
    api, h = world["api"], world["h"]
    channel = api.post(
        f"{API}/channel-tracking/channels", json={"name": "抖音直播", "group": "social"}, headers=h
    )
    assert channel.status_code == 201, channel.get_json()
    channel_id = channel.get_json()["id"]
    html = client.get("/records/channel_tracking.campaigns/new").get_data(as_text=True)
    assert 'data-lookup="/lookup/channel_tracking.channels"' in html
    found = client.get("/lookup/channel_tracking.channels?q=抖音").get_json()["results"]
    assert [e["id"] for e in found] == [channel_id]
    r = post_form(
        client,
        "/records/channel_tracking.campaigns/new",
        {"name": "双十一", "utm_campaign": "d11-live", "channel_id": str(channel_id)},
    )
    _saved(r)
    html = client.get("/records/channel_tracking.campaigns/").get_data(as_text=True)
    assert "抖音直播" in html
    # a channel that does not exist is refused on its field
    r = post_form(
        client,
        "/records/channel_tracking.campaigns/new",
        {"name": "x", "utm_campaign": "x1", "channel_id": "9999"},
    )
    assert r.status_code == 422 and 'data-field="channel_id"' in r.get_data(as_text=True)


def test_an_import_refuses_an_owner_that_does_not_exist(client, world):
    import io

    from crm_core.testing import follow_task

    api, h = world["api"], world["h"]
    data = "姓名,负责人id\n幽灵客户,9999\n真客户,{}\n".format(world["rep"].id).encode()
    form = {"file": (io.BytesIO(data), "owners.csv")}
    r = api.post(f"{API}/customers/import", data=form, headers=h, content_type="multipart/form-data")
    outcome = follow_task(api, r, h)
    assert outcome.status_code == 422
    report = outcome.get_json()["report"]
    assert report["imported"] == 0 and report["errors"][0]["row"] == 2
    assert list(report["errors"][0]["errors"]) == ["owner_id"]
    names = [c["name"] for c in api.get(f"{API}/customers?page_size=200", headers=h).get_json()]
    assert "幽灵客户" not in names and "真客户" not in names  # all or nothing, by default


def test_an_activity_names_the_record_it_is_about(app, client, world):
    api = world["api"]
    r = api.post(
        f"{API}/activities",
        json={"kind": "call", "subject": "Follow up", "related_type": "deals", "related_id": world["deal"]},
        headers=world["rep_h"],
    )
    assert r.status_code == 201, r.get_json()
    activity = r.get_json()["id"]
    html = client.get("/records/activities/").get_data(as_text=True)
    assert f'href="/records/deals/{world["deal"]}" data-ref="{world["deal"]}">Spring order<' in html
    html = client.get(f"/records/activities/{activity}").get_data(as_text=True)
    assert ">Spring order<" in html
    # a viewer who may not read deals sees the bare id only
    role = Role.create(name="notes_only")
    Grant.create(role=role, resource="activities", action="read", scope="all")
    Grant.create(role=role, resource="customers", action="read", scope="all")
    from crm_core.auth import create_user
    from crm_core.testing import TEST_PASSWORD

    create_user("notes", TEST_PASSWORD, roles=("notes_only",))
    html = login(app, "notes").get(f"/records/activities/{activity}").get_data(as_text=True)
    assert "Spring order" not in html and f"#{world['deal']}" in html
