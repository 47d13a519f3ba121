"""The loyalty plugin's ``crm_demo_data`` hook: tiers in the demo's language, members enrolled from
the demo's customers with ledgers (earnings, redemptions, expired points), scoped like the
customers. Issue 15: "demo data has ... no loyalty or channel data"."""

from __future__ import annotations

import random

import pytest

from crm_core.browser_testing import web_login


def _context(app, client, headers, locale, make_user):
    from crm_core.plugin_api import DemoContext, actor_for_user

    rep, _ = make_user("demo_rep")
    boss, _ = make_user("demo_boss")
    ids = []
    for n in range(8):
        body = {
            "name": f"客户{n}" if locale == "zh_CN" else f"Customer {n}",
            "owner_id": rep.id if n < 4 else boss.id,
        }
        ids.append(client.post("/api/v1/customers", json=body, headers=headers).get_json()["id"])
    return DemoContext(
        locale=locale,
        admin=actor_for_user(boss),
        users={"sales": [rep.id], "admin": [boss.id]},
        customers=ids,
        random=random.Random(7),
    ), rep


@pytest.mark.parametrize("locale", ["zh_CN", "en"])
def test_demo_data_hook_writes_tiers_members_and_ledgers(app, client, admin_headers, make_user, locale):
    from crm_loyalty.models import LedgerEntry, Member, Tier

    context, rep = _context(app, client, admin_headers, locale, make_user)
    with app.app_context():
        callers = dict(app.extensions["crm"].plugins.per_plugin("crm_demo_data"))
        assert "loyalty" in callers
        callers["loyalty"](context=context)
        names = [t.name for t in Tier.select().order_by(Tier.rank)]
        members = list(Member.select())
        kinds = {e.kind for e in LedgerEntry.select()}
    assert names == (
        ["普通会员", "银卡会员", "金卡会员", "钻石会员"]
        if locale == "zh_CN"
        else ["Member", "Silver", "Gold", "Diamond"]
    )
    assert len(members) >= 4 and {m.customer_id for m in members} <= set(context.customers)
    assert {"earn", "redeem", "expire"} <= kinds
    # members belong to their customer's owner: the rep's customers are the rep's members
    owned = {m.customer_id: m.owner_id for m in members}
    assert all(owned[c] == rep.id for c in context.customers[:4] if c in owned)

    # the API shows each balance as its ledger sum; the members list shows them
    member = members[0]
    detail = client.get(f"/api/v1/loyalty/members/{member.customer_id}", headers=admin_headers).get_json()
    with app.app_context():
        total = sum(e.points for e in LedgerEntry.select().where(LedgerEntry.member == member.id))
    assert detail["points"]["balance"] == total
    make_user("demo_viewer")
    web_login(client, "demo_viewer")
    html = client.get("/loyalty/members").get_data(as_text=True)
    assert names[0] in html or names[1] in html

    # running it again adds nothing twice
    with app.app_context():
        before = (Member.select().count(), LedgerEntry.select().count(), Tier.select().count())
        callers["loyalty"](context=context)
        assert (Member.select().count(), LedgerEntry.select().count(), Tier.select().count()) == before
