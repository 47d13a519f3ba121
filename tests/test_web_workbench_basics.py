"""Workbench basics through the HTTP client: customers linked to companies with a role (both
sides, audited, within scope), the company page with its people, deals and network graph, the
global search (never a row outside the searcher's scope nor a match on a hidden field), the
due-task reminders with their badge, and the top bar's foldable menu."""

from __future__ import annotations

import datetime as dt
import re

import pytest

from crm_core.browser_testing import post_form, web_login

API = "/api/v1"
HIDDEN_PHONE = "+8613955550001"


def login_as(app, username):
    other = app.test_client()
    assert web_login(other, username).status_code == 302
    return other


@pytest.fixture
def world(app, client, make_user):
    """Two departments; an admin (logged in on ``client``); sales reps in each; a role that hides
    customers' phones; a distributor network HQ > {East, West} > East shop; people and deals."""
    _, h = make_user("boss", roles=("admin",))
    api = app.test_client()

    def post(path, body, headers=h):
        r = api.post(f"{API}/{path}", json=body, headers=headers)
        assert r.status_code == 201, (path, r.get_json())
        return r.get_json()["id"]

    north = post("departments", {"name": "North"})
    south = post("departments", {"name": "South"})
    _, rep_h = make_user("rep", roles=("sales",), department_id=north)
    _, other_h = make_user("other", roles=("sales",), department_id=south)
    grants = [
        {"resource": r, "action": "read", "scope": "all"}
        for r in ("customers", "companies", "deals", "tickets", "contacts")
    ]
    rules = [{"resource": "customers", "field": "phone", "rule": "hidden"}]
    post("roles", {"name": "nophone", "grants": grants, "field_rules": rules})
    make_user("nophone", roles=("nophone",), department_id=north)
    post(
        "pipelines",
        {"name": "Sales", "is_default": True, "stages": [{"name": "Lead"}, {"name": "Won", "kind": "won"}]},
    )
    hq = post("companies", {"name": "Zhongda Holdings", "department_id": north})
    east = post("companies", {"name": "Zhongda East", "parent_id": hq, "department_id": north})
    west = post("companies", {"name": "Zhongda West Secret", "parent_id": hq, "department_id": south})
    shop = post("companies", {"name": "Zhongda East Shop", "parent_id": east, "department_id": north})
    wang = post("customers", {"name": "Wang Caigou", "phone": HIDDEN_PHONE}, rep_h)
    li = post("customers", {"name": "Li Zhongda Finance"}, rep_h)
    zhao = post("customers", {"name": "Zhao Zhongda South"}, other_h)
    deal = post("deals", {"title": "Zhongda spring order", "company_id": hq, "customer_id": wang}, rep_h)
    post("deals", {"title": "Zhongda south deal", "company_id": hq, "department_id": south})
    post("tickets", {"title": "Zhongda printer broken", "customer_id": wang})
    web_login(client, "boss")
    return {
        "h": h,
        "api": api,
        "rep_h": rep_h,
        "north": north,
        "south": south,
        "hq": hq,
        "east": east,
        "west": west,
        "shop": shop,
        "wang": wang,
        "li": li,
        "zhao": zhao,
        "deal": deal,
    }


# --- customers and companies ---------------------------------------------------------------------


def test_link_a_customer_to_a_company_with_a_role(app, client, world):
    rep = login_as(app, "rep")
    page = f"/records/companies/{world['hq']}"
    html = rep.get(f"{page}?find=Wang").get_data(as_text=True)
    assert 'id="found-customers"' in html and "Wang Caigou" in html
    r = post_form(
        rep,
        f"{page}/contacts",
        {"customer_id": str(world["wang"]), "role": "采购", "is_primary": "on"},
        page=page,
    )
    assert r.status_code == 302
    html = rep.get(page).get_data(as_text=True)
    contacts = html[html.index('id="contacts"') :]
    assert "Wang Caigou" in contacts and "采购" in contacts
    # the link is a contact through the write path: in the API and audited
    links = world["api"].get(f"{API}/contacts?company_id={world['hq']}", headers=world["h"]).get_json()
    assert [(c["customer_id"], c["role"], c["is_primary"]) for c in links] == [(world["wang"], "采购", True)]
    from crm_core.audit.models import AuditEntry

    assert AuditEntry.select().where(AuditEntry.resource == "contacts").count() == 1
    # twice is refused with a message, nothing doubled
    r = post_form(
        rep,
        f"{page}/contacts",
        {"customer_id": str(world["wang"]), "role": "财务"},
        page=page,
        follow_redirects=True,
    )
    assert "already a contact" in r.get_data(as_text=True)
    # from the customer's side: the panel lists the company and links another by name
    cpage = f"/records/customers/{world['wang']}"
    html = rep.get(cpage).get_data(as_text=True)
    panel = html[html.index('id="customer-companies"') :]
    assert "Zhongda Holdings" in panel and "采购" in panel
    r = post_form(rep, f"{cpage}/companies", {"company": "Zhongda East", "role": "决策人"}, page=cpage)
    assert r.status_code == 302
    assert "决策人" in rep.get(f"/records/companies/{world['east']}").get_data(as_text=True)
    # changing the role in place (through the write path)
    contact = links[0]["id"]
    r = post_form(rep, f"/contacts/{contact}/role", {"role": "财务"}, page=page)
    assert r.status_code == 302
    got = world["api"].get(f"{API}/contacts/{contact}", headers=world["h"]).get_json()
    assert got["role"] == "财务" and got["is_primary"] is False
    assert AuditEntry.select().where(AuditEntry.resource == "contacts").count() == 3
    # removing a link
    r = post_form(rep, f"/contacts/{contact}/delete", {}, page=page)
    assert r.status_code == 302
    assert (
        "Wang Caigou"
        not in rep.get(page).get_data(as_text=True).split('id="contacts"')[1].split("</table>")[0]
    )


def test_links_stay_within_scope(app, client, world):
    rep = login_as(app, "rep")
    # a customer of another department cannot be found nor linked
    page = f"/records/companies/{world['hq']}"
    assert "Zhao Zhongda South" not in rep.get(f"{page}?find=Zhao").get_data(as_text=True)
    r = post_form(
        rep,
        f"{page}/contacts",
        {"customer_id": str(world["zhao"]), "role": "x"},
        page=page,
        follow_redirects=True,
    )
    assert "could not be made" in r.get_data(as_text=True)
    assert world["api"].get(f"{API}/contacts", headers=world["h"]).get_json() == []
    # a company outside the scope is not linkable by name either, and its page is 404
    cpage = f"/records/customers/{world['wang']}"
    r = post_form(
        rep, f"{cpage}/companies", {"company": "Zhongda West Secret"}, page=cpage, follow_redirects=True
    )
    assert "No company is called" in r.get_data(as_text=True)
    assert rep.get(f"/records/companies/{world['west']}").status_code == 404


def test_company_page_shows_people_deals_and_the_network(app, client, world):
    world["api"].post(
        f"{API}/contacts",
        json={"customer_id": world["li"], "company_id": world["east"], "role": "财务"},
        headers=world["h"],
    )
    html = client.get(f"/records/companies/{world['east']}").get_data(as_text=True)
    start = html.index('<svg xmlns="http://www.w3.org/2000/svg" class="crm-network"')
    svg = html[start : html.index("</svg>", start)]
    for cid in (world["hq"], world["east"], world["west"], world["shop"]):
        assert f'data-company="{cid}"' in svg, "the whole network is drawn for the admin"
    assert f'class="crm-network-node crm-network-current" data-company="{world["east"]}"' in svg
    assert "1 contact" in svg and "Li Zhongda Finance · 财务" in svg
    assert "Zhongda East Shop" in html.split('id="network"')[1], "companies directly below are listed"
    html = client.get(f"/records/companies/{world['hq']}").get_data(as_text=True)
    deals = html[html.index('id="company-deals"') :]
    assert "Zhongda spring order" in deals and "Zhongda south deal" in deals


def test_company_page_of_a_sales_rep_leaves_out_what_they_may_not_read(app, world):
    rep = login_as(app, "rep")
    world["api"].post(
        f"{API}/contacts",
        json={"customer_id": world["zhao"], "company_id": world["hq"], "role": "暗线角色"},
        headers=world["h"],
    )
    html = rep.get(f"/records/companies/{world['shop']}").get_data(as_text=True)
    assert "Zhongda West Secret" not in html and f'data-company="{world["west"]}"' not in html
    assert f'data-company="{world["hq"]}"' in html and f'data-company="{world["shop"]}"' in html
    assert "Zhao Zhongda South" not in html
    html = rep.get(f"/records/companies/{world['hq']}").get_data(as_text=True)
    assert "Zhongda south deal" not in html and "Zhongda spring order" in html
    assert "Zhao Zhongda South" not in html and "暗线角色" not in html


# --- global search -----------------------------------------------------------------------------------


def test_global_search_groups_hits_by_type(app, client, world):
    html = client.get("/").get_data(as_text=True)
    assert 'id="global-search"' in html and 'action="/search"' in html
    html = client.get("/search?q=Zhongda").get_data(as_text=True)
    groups = re.findall(r'class="crm-search-group" data-resource="([a-z]+)"', html)
    assert groups == ["customers", "companies", "deals", "tickets"]
    for text in ("Li Zhongda Finance", "Zhongda East Shop", "Zhongda spring order", "Zhongda printer broken"):
        assert text in html, text
    assert "No results" not in html
    html = client.get("/search?q=nothing-like-this").get_data(as_text=True)
    assert 'id="no-results"' in html


def test_global_search_stays_within_the_searchers_scope(app, world):
    rep = login_as(app, "rep")
    html = rep.get("/search?q=Zhongda").get_data(as_text=True)
    assert "Li Zhongda Finance" in html and "Zhongda spring order" in html
    for outside in (
        "Zhao Zhongda South",
        "Zhongda West Secret",
        "Zhongda south deal",
        "Zhongda printer broken",
    ):
        assert outside not in html, outside
    assert 'data-resource="tickets"' not in html, "no ticket of theirs matches"


def test_global_search_never_matches_a_hidden_field(app, world):
    spy = login_as(app, "nophone")
    html = spy.get("/search?q=13955550001").get_data(as_text=True)
    assert "Wang Caigou" not in html and HIDDEN_PHONE not in html
    html = spy.get("/search?q=Wang").get_data(as_text=True)
    assert "Wang Caigou" in html and HIDDEN_PHONE not in html
    admin = login_as(app, "boss")
    assert "Wang Caigou" in admin.get("/search?q=13955550001").get_data(as_text=True)


# --- reminders ---------------------------------------------------------------------------------------


def test_reminders_list_and_badge(app, world, make_user):
    rep = login_as(app, "rep")
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)

    def task(subject, due, headers=world["rep_h"], **extra):
        body = {"kind": "task", "subject": subject, "due_at": due.isoformat() + "Z" if due else None, **extra}
        r = world["api"].post(f"{API}/activities", json=body, headers=headers)
        assert r.status_code == 201, r.get_json()
        return r.get_json()["id"]

    assert 'id="reminder-badge"' not in rep.get("/").get_data(as_text=True)
    late = task("Call Wang back", now - dt.timedelta(days=2))
    soon = task("Send the quote", now + dt.timedelta(minutes=1))
    task("Next week's visit", now + dt.timedelta(days=7))
    task("Already done", now - dt.timedelta(days=1), done=True)
    task("Someone else's", now - dt.timedelta(days=1), headers=world["h"])
    html = rep.get("/").get_data(as_text=True)
    assert re.search(r'id="reminder-badge">2<', html), re.findall(r"crm-reminders.{0,600}", html, re.S)
    panel = html[html.index('id="dashboard-reminders"') :].split("</ul>")[0]
    assert "Call Wang back" in panel and "Send the quote" in panel and "Next week" not in panel
    html = rep.get("/reminders").get_data(as_text=True)
    overdue = html[html.index('id="overdue"') : html.index('id="due-today"')]
    assert "Call Wang back" in overdue
    assert "Send the quote" in html[html.index('id="due-today"') :]
    for absent in ("Next week", "Already done", "Someone else"):
        assert absent not in html
    r = post_form(rep, f"/reminders/{late}/done", {}, page="/reminders")
    assert r.status_code == 302
    got = world["api"].get(f"{API}/activities/{late}", headers=world["h"]).get_json()
    assert got["done"] is True and got["done_at"]
    assert re.search(r'id="reminder-badge">1<', rep.get("/").get_data(as_text=True))
    assert soon


def test_no_bell_for_users_who_read_no_activities(app, world, make_user):
    make_user("desk", roles=("readonly",))  # readonly reads activities: the bell shows, empty
    assert 'id="reminders-link"' in login_as(app, "desk").get("/").get_data(as_text=True)
    world["api"].post(
        f"{API}/roles",
        json={"name": "tickets_only", "grants": [{"resource": "tickets", "action": "read", "scope": "all"}]},
        headers=world["h"],
    )
    make_user("ticketer", roles=("tickets_only",))
    other = login_as(app, "ticketer")
    assert 'id="reminders-link"' not in other.get("/").get_data(as_text=True)
    assert other.get("/reminders").status_code == 403


# --- the top bar ---------------------------------------------------------------------------------------


def test_the_menu_folds_into_a_button_on_narrow_screens(app, client, world):
    html = client.get("/").get_data(as_text=True)
    assert 'id="crm-menu-toggle"' in html and 'for="crm-menu-toggle"' in html
    css = client.get("/static/crm/app.css").get_data(as_text=True)
    assert "@media (max-width: 900px)" in css and ".crm-menu-toggle:checked ~ .crm-menu" in css


def test_contacts_api_for_a_sales_rep(app, world):
    """Built-in roles get on contacts what they have on companies (migration 0002): a sales rep
    links their customers to readable companies through the API, within scope."""
    api, rep_h = world["api"], world["rep_h"]
    r = api.post(
        f"{API}/contacts",
        json={"customer_id": world["wang"], "company_id": world["hq"], "role": "财务"},
        headers=rep_h,
    )
    assert r.status_code == 201, r.get_json()
    r = api.post(
        f"{API}/contacts", json={"customer_id": world["zhao"], "company_id": world["hq"]}, headers=rep_h
    )
    assert r.status_code == 422, "a customer outside the rep's scope cannot be linked"
    r = api.post(
        f"{API}/contacts", json={"customer_id": world["li"], "company_id": world["west"]}, headers=rep_h
    )
    assert r.status_code == 422, "nor a company outside it"
    api.post(
        f"{API}/contacts",
        json={"customer_id": world["zhao"], "company_id": world["west"], "department_id": world["south"]},
        headers=world["h"],
    )
    listed = api.get(f"{API}/contacts", headers=rep_h).get_json()
    assert [(c["customer_id"], c["role"]) for c in listed] == [(world["wang"], "财务")]
    spec = api.get(f"{API}/openapi.json").get_json()
    assert "/api/v1/contacts" in spec["paths"] and "/api/v1/companies/{record_id}/tree" in spec["paths"]
