"""The loyalty programme's workbench screens through the HTTP test client: menu, members list,
member page with redeem / adjust / reverse, enrolment with the customer picker, tiers, earning
rules and programme settings, in English and Chinese, as admin and as a scoped user.

Issue 15 saw "no menu entry; an English panel on the customer page; generic pages titled
``loyalty.tiers`` reachable only by typing URLs; no members list, points ledger, redeem/adjust".
"""

from __future__ import annotations

import re

import pytest
from loyalty_testlib import L

from crm_core.browser_testing import csrf_from, web_login

ZH = {"Accept-Language": "zh-CN"}


def text(response) -> str:
    return response.get_data(as_text=True)


def post(client, path, data, page=None, headers=None):
    """POST a form with a CSRF token taken from ``page`` (default ``path``)."""
    token = csrf_from(client, page or path)
    return client.post(path, data={**data, "csrf_token": token}, headers=headers or {})


def field_error(html: str, name: str) -> str:
    """The per-field message the page shows under input ``name`` ('' when none)."""
    found = re.findall(
        rf'<small class="crm-field-error" data-field="{re.escape(name)}">([^<]*)</small>', html
    )
    return " ".join(found)


def hidden_reference(html: str, form_id: str) -> str:
    form = html[html.index(f'id="{form_id}"') :]
    return re.search(r'name="reference" value="([^"]+)"', form).group(1)


@pytest.fixture
def shop(client, program, purchase, make_user):
    """Tiers and a rule, an admin logged in to the workbench, and two members with points:
    Li Na (1200 spent: gold) and Wang Wu (300: silver); Zhao Liu is a customer, not a member."""
    headers = program()
    make_user("boss")
    ids = {}
    for name in ("Li Na", "Wang Wu", "Zhao Liu"):
        r = client.post("/api/v1/customers", json={"name": name}, headers=headers)
        ids[name] = r.get_json()["id"]
    assert purchase(ids["Li Na"], "o-1", "1200.00").status_code == 201
    assert purchase(ids["Wang Wu"], "o-2", "300.00").status_code == 201
    assert web_login(client, "boss").status_code == 302
    return {"headers": headers, "ids": ids}


@pytest.fixture
def rep(client, make_user, admin_headers):
    """A sales rep whose role reads loyalty members and points of their OWN customers only (no
    redeem, no adjust, no set-up), with one member of their own (Own Customer) next to Li Na's."""
    r = client.post(
        "/api/v1/roles",
        json={
            "name": "loyalty_reader",
            "grants": [
                {"resource": "customers", "action": "read", "scope": "own"},
                {"resource": "loyalty.members", "action": "read", "scope": "own"},
                {"resource": "loyalty.points", "action": "read", "scope": "own"},
            ],
        },
        headers=admin_headers,
    )
    assert r.status_code == 201, r.get_json()
    user, _ = make_user("rep", roles=("loyalty_reader",))
    r = client.post(
        "/api/v1/customers", json={"name": "Own Customer", "owner_id": user.id}, headers=admin_headers
    )
    own = r.get_json()["id"]
    r = client.post(f"{L}/members", json={"customer_id": own, "owner_id": user.id}, headers=admin_headers)
    assert r.status_code == 201, r.get_json()
    return {"user": user, "own": own}


# --- menu and permissions -----------------------------------------------------------------------


def test_menu_entry_in_both_languages_only_for_users_with_the_permission(client, shop, make_user):
    html = text(client.get("/"))
    assert 'href="/loyalty/"' in html and ">Loyalty<" in html
    assert ">会员积分<" in text(client.get("/", headers=ZH))
    assert client.get("/loyalty/").headers["Location"].endswith("/loyalty/members")

    client.post("/logout", data={"csrf_token": csrf_from(client, "/")})
    make_user("plain", roles=())
    web_login(client, "plain")
    assert 'href="/loyalty/"' not in text(client.get("/"))
    assert client.get("/loyalty/").status_code == 403
    assert client.get("/loyalty/members").status_code == 403
    assert client.get("/loyalty/tiers").status_code == 403


def test_permission_labels_are_translated(client, admin_headers, shop):
    resources = client.get("/api/v1/permissions", headers={**ZH, **admin_headers}).get_json()["resources"]
    labels = {name: entry["label"] for name, entry in resources.items()}
    assert labels["loyalty.members"] == "积分会员"
    assert labels["loyalty.points"] == "积分"
    assert labels["loyalty.tiers"] == "会员等级"


# --- members list -------------------------------------------------------------------------------


def test_members_list_shows_tier_and_balance_search_and_filter(client, shop):
    ids = shop["ids"]
    html = text(client.get("/loyalty/members"))
    assert "Li Na" in html and "Wang Wu" in html and "Zhao Liu" not in html
    row = html[html.index(f'data-member="{ids["Li Na"]}"') :]
    assert 'data-tier="gold">Gold<' in row[:800] and "<td data-balance>1200</td>" in row[:800]

    found = text(client.get("/loyalty/members?q=Wang"))
    assert "Wang Wu" in found and "Li Na" not in found
    gold = text(client.get("/loyalty/members?tier=gold"))
    assert "Li Na" in gold and "Wang Wu" not in gold

    zh = text(client.get("/loyalty/members", headers=ZH))
    assert "积分余额" in zh and "会员等级" in zh and "Points balance" not in zh


def test_scoped_user_sees_only_their_members_and_no_redeem_form(client, shop, rep):
    client.post("/logout", data={"csrf_token": csrf_from(client, "/")})
    web_login(client, "rep")
    html = text(client.get("/loyalty/members"))
    assert "Own Customer" in html and "Li Na" not in html and "Wang Wu" not in html
    # searching never reaches a member (or a name) outside the scope
    assert "Li Na" not in text(client.get("/loyalty/members?q=Li"))
    assert client.get(f"/loyalty/members/{shop['ids']['Li Na']}").status_code == 404

    page = text(client.get(f"/loyalty/members/{rep['own']}"))
    assert 'id="points"' in page and 'id="ledger"' in page
    assert "redeem-form" not in page and "adjust-form" not in page and "reverse-form" not in page
    r = post(client, f"/loyalty/members/{rep['own']}/redeem", {"points": "1", "reference": "x"}, page="/")
    assert r.status_code == 403
    assert client.get("/loyalty/tiers").status_code == 403
    assert client.get("/loyalty/members/new").status_code == 403


# --- member page and ledger forms -----------------------------------------------------------------


def test_member_page_shows_points_progress_and_ledger(client, shop):
    li = shop["ids"]["Li Na"]
    html = text(client.get(f"/loyalty/members/{li}"))
    assert 'data-points="balance">1200<' in html
    assert 'data-next-tier="platinum"' in html and "Next tier: Platinum, 3,800 more (Spend amount)." in html
    assert 'data-kind="earn"' in html and "Order o-1" in html and "expires" in html
    zh = text(client.get(f"/loyalty/members/{li}", headers=ZH))
    assert "积分明细" in zh and "兑换积分" in zh and "订单 o-1" in zh and "Points ledger" not in zh


def test_redeem_and_its_refusals(client, shop):
    li = shop["ids"]["Li Na"]
    path = f"/loyalty/members/{li}"
    page = text(client.get(path))
    reference = hidden_reference(page, "redeem-form")
    r = post(client, f"{path}/redeem", {"points": "200", "reason": "gift", "reference": reference}, page=path)
    assert r.status_code == 302
    html = text(client.get(path))
    assert 'data-points="balance">1000<' in html and "200 points redeemed." in html
    # the same form sent twice (a double click) spends nothing more
    r = post(client, f"{path}/redeem", {"points": "200", "reason": "gift", "reference": reference}, page=path)
    assert r.status_code == 302
    assert 'data-points="balance">1000<' in text(client.get(path))

    # more than the balance: the API's 409, on the field, with what was typed kept
    r = post(client, f"{path}/redeem", {"points": "5000", "reference": "r-2"}, page=path)
    assert r.status_code == 409
    assert field_error(text(r), "points") == "Only 1000 points are available to redeem."
    assert 'value="5000"' in text(r)
    r = post(client, f"{path}/redeem", {"points": "5000", "reference": "r-3"}, page=path, headers=ZH)
    assert r.status_code == 409 and "1000" in field_error(text(r), "points")
    assert "available" not in field_error(text(r), "points")
    # not a number, or nothing
    r = post(client, f"{path}/redeem", {"points": "abc", "reference": "r-4"}, page=path)
    assert r.status_code == 422 and field_error(text(r), "points")
    r = post(client, f"{path}/redeem", {"points": "", "reference": "r-5"}, page=path)
    assert r.status_code == 422 and field_error(text(r), "points")
    assert 'data-points="balance">1000<' in text(client.get(path))


def test_adjust_needs_a_reason_and_never_goes_below_zero(client, shop):
    wang = shop["ids"]["Wang Wu"]
    path = f"/loyalty/members/{wang}"
    r = post(client, f"{path}/adjust", {"points": "50", "reason": "", "reference": "a-1"}, page=path)
    assert r.status_code == 422 and field_error(text(r), "reason")
    r = post(client, f"{path}/adjust", {"points": "0", "reason": "oops", "reference": "a-2"}, page=path)
    assert r.status_code == 422 and field_error(text(r), "points") == "Must not be zero."
    r = post(
        client,
        f"{path}/adjust",
        {"points": "0", "reason": "oops", "reference": "a-2b"},
        page=path,
        headers=ZH,
    )
    assert field_error(text(r), "points") == "不能为零。"
    r = post(client, f"{path}/adjust", {"points": "-999", "reason": "fix", "reference": "a-3"}, page=path)
    assert r.status_code == 409 and field_error(text(r), "points") == "Only 300 points can be deducted."
    r = post(
        client,
        f"{path}/adjust",
        {"points": "50", "reason": "apology", "reference": "a-4", "expires_at": "2099-12-31"},
        page=path,
    )
    assert r.status_code == 302
    html = text(client.get(path))
    assert 'data-points="balance">350<' in html and "apology" in html and "Dec 31, 2099" in html


def test_reverse_a_redemption_once(client, shop):
    li = shop["ids"]["Li Na"]
    path = f"/loyalty/members/{li}"
    assert post(client, f"{path}/redeem", {"points": "100", "reference": "r-1"}, page=path).status_code == 302
    html = text(client.get(path))
    entry = re.search(r'data-entry="(\d+)" data-kind="redeem"', html).group(1)
    r = post(
        client, f"{path}/reverse", {"entry_id": entry, "reason": "cancelled", "reference": "v-1"}, page=path
    )
    assert r.status_code == 302
    html = text(client.get(path))
    assert 'data-points="balance">1200<' in html and 'data-kind="reverse"' in html
    r = post(client, f"{path}/reverse", {"entry_id": entry, "reason": "again", "reference": "v-2"}, page=path)
    assert r.status_code == 409 and "Already reversed." in text(r)
    r = post(client, f"{path}/reverse", {"entry_id": "999999", "reference": "v-3"}, page=path)
    assert r.status_code == 404 and "Not found." in text(r)
    r = post(client, f"{path}/reverse", {"entry_id": "x", "reference": "v-4"}, page=path)
    assert r.status_code == 422 and field_error(text(r), "entry_id")


# --- enrolment ----------------------------------------------------------------------------------


def test_enrol_with_the_picker(client, shop):
    zhao = shop["ids"]["Zhao Liu"]
    picked = text(client.get("/loyalty/customers/pick?q=Zhao"))
    assert f'value="{zhao}"' in picked and "Zhao Liu" in picked
    already = text(client.get("/loyalty/customers/pick?q=Li"))
    assert "already a member" in already and "disabled" in already
    r = post(client, "/loyalty/members/new", {"customer_id": str(zhao), "channel": "store"})
    assert r.status_code == 302 and r.headers["Location"].endswith(f"/loyalty/members/{zhao}")
    assert "Zhao Liu" in text(client.get("/loyalty/members"))

    r = post(client, "/loyalty/members/new", {"customer_id": str(zhao)})
    assert r.status_code == 409 and field_error(text(r), "customer_id") == "Already enrolled."
    r = post(client, "/loyalty/members/new", {})
    assert r.status_code == 422 and field_error(text(r), "customer_id") == "Choose a customer."
    r = post(client, "/loyalty/members/new", {}, headers=ZH)
    assert field_error(text(r), "customer_id") == "请选择一位客户。"
    r = post(client, "/loyalty/members/new", {"customer_id": "987654"})
    assert r.status_code == 422 and field_error(text(r), "customer_id") == "Choose a customer you can see."
    r = post(
        client, "/loyalty/members/new", {"customer_id": str(shop["ids"]["Wang Wu"]), "birthday": "31/31"}
    )
    assert r.status_code == 422 and field_error(text(r), "birthday")


def test_picker_offers_only_customers_the_actor_may_read(client, shop, make_user, admin_headers):
    r = client.post(
        "/api/v1/roles",
        json={
            "name": "enroller",
            "grants": [
                {"resource": "customers", "action": "read", "scope": "own"},
                {"resource": "loyalty.members", "action": "read", "scope": "own"},
                {"resource": "loyalty.members", "action": "create", "scope": "own"},
            ],
        },
        headers=admin_headers,
    )
    assert r.status_code == 201, r.get_json()
    user, _ = make_user("enroller", roles=("enroller",))
    mine = client.post(
        "/api/v1/customers", json={"name": "Zhao Mine", "owner_id": user.id}, headers=admin_headers
    ).get_json()["id"]
    client.post("/logout", data={"csrf_token": csrf_from(client, "/")})
    web_login(client, "enroller")
    picked = text(client.get("/loyalty/customers/pick?q=Zhao"))
    assert "Zhao Mine" in picked and "Zhao Liu" not in picked
    # an id typed into a crafted post is refused in the same words as one that does not exist
    r = post(client, "/loyalty/members/new", {"customer_id": str(shop["ids"]["Zhao Liu"])})
    assert r.status_code == 422 and field_error(text(r), "customer_id") == "Choose a customer you can see."
    assert post(client, "/loyalty/members/new", {"customer_id": str(mine)}).status_code == 302


# --- tiers, rules, programme ---------------------------------------------------------------------


TIER = {
    "name": "Diamond",
    "code": "diamond",
    "rank": "40",
    "metric": "spend",
    "window": "rolling",
    "window_days": "365",
    "threshold": "20000",
    "multiplier": "3",
    "discount_percent": "15",
    "free_shipping": "on",
    "perks": "lounge, gift",
    "description": "",
}


def test_tier_editor(client, shop, admin_headers):
    html = text(client.get("/loyalty/tiers"))
    assert 'data-tier="gold"' in html and "5% off" in html and "Spend amount" in html
    assert 'name="benefits"' not in text(client.get("/loyalty/tiers/new")), "no JSON box"

    r = post(client, "/loyalty/tiers/new", {**TIER, "rank": "20"})
    assert r.status_code == 422 and field_error(text(r), "rank") == "Already used by another tier."
    assert 'value="Diamond"' in text(r), "what was typed is kept"
    r = post(client, "/loyalty/tiers/new", {**TIER, "window_days": ""})
    assert r.status_code == 422 and field_error(text(r), "window_days")
    r = post(client, "/loyalty/tiers/new", {**TIER, "code": "Not A Code", "threshold": "lots"})
    assert r.status_code == 422 and field_error(text(r), "code") and field_error(text(r), "threshold")
    r = post(client, "/loyalty/tiers/new", {**TIER, "discount_percent": "150"})
    assert r.status_code == 422 and field_error(text(r), "discount_percent")
    r = post(client, "/loyalty/tiers/new", {**TIER, "name": ""}, headers=ZH)
    assert r.status_code == 422 and "Missing data" not in field_error(text(r), "name")

    r = post(client, "/loyalty/tiers/new", TIER)
    assert r.status_code == 302
    tier = next(
        t for t in client.get(f"{L}/tiers", headers=admin_headers).get_json() if t["code"] == "diamond"
    )
    assert tier["benefits"] == {"discount_rate": "0.15", "free_shipping": True, "perks": ["lounge", "gift"]}
    assert tier["threshold"] == "20000.00" and tier["window_days"] == 365

    edit = f"/loyalty/tiers/{tier['id']}/edit"
    form = text(client.get(edit))
    assert 'value="15"' in form and 'value="lounge, gift"' in form
    r = post(client, edit, {**TIER, "name": "Black Diamond", "free_shipping": "", "perks": ""})
    assert r.status_code == 302
    tier = client.get(f"{L}/tiers/{tier['id']}", headers=admin_headers).get_json()
    assert tier["name"] == "Black Diamond" and tier["benefits"] == {
        "discount_rate": "0.15",
        "free_shipping": False,
    }

    gold = next(t for t in client.get(f"{L}/tiers", headers=admin_headers).get_json() if t["code"] == "gold")
    r = post(client, f"/loyalty/tiers/{gold['id']}/delete", {}, page="/loyalty/tiers")
    assert r.status_code == 302
    assert "cannot be deleted" in text(client.get("/loyalty/tiers"))
    r = post(client, f"/loyalty/tiers/{tier['id']}/delete", {}, page="/loyalty/tiers")
    assert r.status_code == 302
    assert client.get(f"{L}/tiers/{tier['id']}", headers=admin_headers).status_code == 404

    zh = text(client.get("/loyalty/tiers/new", headers=ZH))
    assert "新建等级" in zh and "积分倍数" in zh and "Points multiplier" not in zh


def test_rule_editor(client, shop, admin_headers):
    assert "1 point per yuan" in text(client.get("/loyalty/rules"))
    r = post(client, "/loyalty/rules/new", {"name": "", "kind": "birthday", "points": "x"})
    assert r.status_code == 422 and field_error(text(r), "name") and field_error(text(r), "points")
    r = post(client, "/loyalty/rules/new", {"name": "Birthday gift", "kind": "wedding", "points": "5"})
    assert r.status_code == 422 and field_error(text(r), "kind")
    r = post(
        client,
        "/loyalty/rules/new",
        {"name": "Birthday gift", "kind": "birthday", "points": "88", "rounding": "down", "active": "on"},
    )
    assert r.status_code == 302
    rule = next(
        x for x in client.get(f"{L}/rules", headers=admin_headers).get_json() if x["kind"] == "birthday"
    )
    assert rule["points"] == 88 and rule["active"] is True and rule["apply_multiplier"] is False
    assert rule["cap_per_day"] is None
    r = post(
        client,
        f"/loyalty/rules/{rule['id']}/edit",
        {
            "name": "Birthday gift",
            "kind": "birthday",
            "points": "99",
            "rounding": "down",
            "cap_per_month": "1",
        },
    )
    assert r.status_code == 302
    rule = client.get(f"{L}/rules/{rule['id']}", headers=admin_headers).get_json()
    assert rule["points"] == 99 and rule["active"] is False and rule["cap_per_month"] == 1
    assert "生日奖励" in text(client.get("/loyalty/rules", headers=ZH))
    assert post(client, f"/loyalty/rules/{rule['id']}/delete", {}, page="/loyalty/rules").status_code == 302
    assert client.get(f"{L}/rules/{rule['id']}", headers=admin_headers).status_code == 404


def test_programme_settings(client, shop, admin_headers):
    page = text(client.get("/loyalty/program"))
    assert 'name="refund_policy"' in page
    base = client.get(f"{L}/program", headers=admin_headers).get_json()
    form = {
        "name": "Club",
        "pending_days": "7",
        "expiry_mode": "year_end",
        "expiry_days": str(base["expiry_days"]),
        "reminder_days": "15",
        "refund_policy": "clawback",
        "retention_days": "30",
        "grace_days": "10",
        "downgrade_steps": "1",
        "auto_enrol": "on",
    }
    r = post(client, "/loyalty/program", {**form, "pending_days": "-3", "expiry_mode": "sometimes"})
    assert r.status_code == 422
    assert field_error(text(r), "pending_days") and field_error(text(r), "expiry_mode")
    assert (
        client.get(f"{L}/program", headers=admin_headers).get_json()["pending_days"] == base["pending_days"]
    )
    r = post(client, "/loyalty/program", form)
    assert r.status_code == 302
    saved = client.get(f"{L}/program", headers=admin_headers).get_json()
    assert saved["name"] == "Club" and saved["pending_days"] == 7 and saved["refund_policy"] == "clawback"
    assert "退货期" in text(client.get("/loyalty/program", headers=ZH))


# --- customer 360 panel ---------------------------------------------------------------------------


def test_customer_panel_in_chinese_with_links(client, shop):
    li, zhao = shop["ids"]["Li Na"], shop["ids"]["Zhao Liu"]
    html = text(client.get(f"/records/customers/{li}", headers=ZH))
    panel = html[html.index('data-plugin="loyalty"') :]
    assert 'data-loyalty="balance">1200<' in panel and "余额" in panel
    assert f'href="/loyalty/members/{li}#redeem-form"' in panel and "兑换积分" in panel
    assert "Balance" not in panel and "Next:" not in panel
    other = text(client.get(f"/records/customers/{zhao}", headers=ZH))
    assert "不是会员" in other and f"/loyalty/members/new?customer_id={zhao}" in other
    enrol = text(client.get(f"/loyalty/members/new?customer_id={zhao}"))
    assert 'id="chosen-customer"' in enrol and "Zhao Liu" in enrol


def test_member_details_and_manual_tier_change(client, shop, admin_headers):
    wang = shop["ids"]["Wang Wu"]
    path = f"/loyalty/members/{wang}"
    r = post(
        client, f"{path}/edit", {"channel": "store", "birthday": "1990-02-30", "tier": "silver"}, page=path
    )
    assert r.status_code == 422 and field_error(text(r), "birthday")
    r = post(client, f"{path}/edit", {"channel": "store", "birthday": "", "tier": "bronze"}, page=path)
    assert r.status_code == 422 and field_error(text(r), "tier") == "No tier &#39;bronze&#39;."
    r = post(
        client,
        f"{path}/edit",
        {"channel": "live", "birthday": "1990-02-03", "tier": "gold", "reason": "VIP since 2020"},
        page=path,
    )
    assert r.status_code == 302
    member = client.get(f"{L}/members/{wang}", headers=admin_headers).get_json()
    assert member["tier"] == "gold" and member["channel"] == "live" and member["birthday"] == "1990-02-03"
    html = text(client.get(path, headers=ZH))
    assert "VIP since 2020" in html and "手动" in html


def test_builtin_sales_role_enrols_and_redeems_for_their_own_customers(
    client, shop, make_user, admin_headers
):
    """Migration 0004: a sales rep of the built-in role works the programme for their own customers
    (before it, only admins could open the screens)."""
    dept = client.post("/api/v1/departments", json={"name": "East"}, headers=admin_headers).get_json()["id"]
    user, headers = make_user("sally", roles=("sales",), department_id=dept)
    mine = client.post("/api/v1/customers", json={"name": "Sally's client"}, headers=headers).get_json()["id"]
    client.post("/logout", data={"csrf_token": csrf_from(client, "/")})
    web_login(client, "sally")
    assert 'href="/loyalty/"' in text(client.get("/"))
    assert "Sally&#39;s client" in text(client.get("/loyalty/customers/pick?q=Sally"))
    assert "Li Na" not in text(client.get("/loyalty/customers/pick?q=Li"))
    assert post(client, "/loyalty/members/new", {"customer_id": str(mine)}).status_code == 302
    path = f"/loyalty/members/{mine}"
    page = text(client.get(path))
    assert "redeem-form" in page and "adjust-form" not in page
    assert 'data-points="balance">0<' in page
    r = post(client, f"{path}/redeem", {"points": "10", "reference": "s-1"}, page=path)
    assert r.status_code == 409 and field_error(text(r), "points") == "Only 0 points are available to redeem."
    members = text(client.get("/loyalty/members"))
    assert "Sally&#39;s client" in members and "Li Na" not in members
    assert "new-tier" not in text(client.get("/loyalty/tiers"))
    settings = text(client.get("/loyalty/program", headers=ZH))
    assert (
        'id="program-settings"' in settings and "program-form" not in settings and "永不过期" not in settings
    )
    assert "获得后若干天过期" in settings  # the expiry mode shown by its label, not its code
    assert post(client, "/loyalty/program", {"name": "x"}, page="/loyalty/tiers").status_code == 403


def test_picker_never_searches_a_masked_phone(client, shop, make_user, admin_headers):
    r = client.post(
        "/api/v1/roles",
        json={
            "name": "desk_enroller",
            "grants": [
                {"resource": "customers", "action": "read", "scope": "all"},
                {"resource": "loyalty.members", "action": "read", "scope": "all"},
                {"resource": "loyalty.members", "action": "create", "scope": "all"},
            ],
            "field_rules": [{"resource": "customers", "field": "phone", "rule": "masked"}],
        },
        headers=admin_headers,
    )
    assert r.status_code == 201, r.get_json()
    make_user("desk_enroller", roles=("desk_enroller",))
    r = client.post(
        "/api/v1/customers", json={"name": "Qian Qi", "phone": "13812345678"}, headers=admin_headers
    )
    assert r.status_code == 201, r.get_json()
    assert "Qian Qi" in text(client.get("/loyalty/customers/pick?q=1381234"))  # the admin may
    client.post("/logout", data={"csrf_token": csrf_from(client, "/")})
    web_login(client, "desk_enroller")
    assert "Qian Qi" not in text(client.get("/loyalty/customers/pick?q=1381234"))
    assert "Qian Qi" in text(client.get("/loyalty/customers/pick?q=Qian"))
