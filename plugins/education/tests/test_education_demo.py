"""The school's ``crm_demo_data`` hook: a small school (courses, rooms, classes, a term of
sessions with a holiday skipped, students with packages and roll call) and leads in every stage
of the funnel, in the demo's language; the screens show it and a second run adds nothing."""

from __future__ import annotations

import random

import pytest
from crm_education.models import Course, Session, Trial, WaitlistEntry
from education_testlib import E, ok

from crm_core.browser_testing import web_login
from crm_core.plugin_api import DemoContext, actor_for_user


# PostgreSQL only (CI time): the browser test of the leads' screens seeds the same demo on SQLite
@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_demo_data_builds_a_school_with_every_funnel_stage(app, client, admin_headers, make_user):
    reps = [make_user(f"demo_rep{i}")[0] for i in range(2)]
    boss, _ = make_user("demo_school_boss", name="校长")
    ids = [
        ok(
            client.post(
                "/api/v1/customers",
                json={"name": f"学员{n}", "owner_id": reps[n % 2].id},
                headers=admin_headers,
            ),
            201,
        )["id"]
        for n in range(34)
    ]
    context = DemoContext(
        locale="zh_CN",
        admin=actor_for_user(boss),
        users={"manager": [boss.id]},
        customers=ids,
        random=random.Random(3),
    )
    with app.app_context():
        hook = dict(app.extensions["crm"].plugins.per_plugin("crm_demo_data"))["education"]
        hook(context=context)
        hook(context=context)  # a second run adds nothing
        assert [c.name for c in Course.select().order_by(Course.id)] == ["少儿英语", "少儿美术", "数学思维"]
        assert Session.select().count() > 40 and Session.select().where(Session.status == "done").exists()
        statuses = {t.status for t in Trial.select()}
        assert {"requested", "booked", "attended", "no_show", "converted"} <= statuses
        assert WaitlistEntry.select().count() == 2
    funnel = ok(client.get(f"{E}/metrics/funnel?from=2000-01-01", headers=admin_headers))["groups"][0]
    assert funnel["leads"] >= 34 and funnel["trial_booked"] >= 9 and funnel["trial_attended"] >= 4
    assert funnel["enrolled"] >= 18
    school = ok(client.get(f"{E}/metrics/school?from=2000-01-01", headers=admin_headers))["months"]
    assert any(m["revenue"] != "0.00" for m in school) and any(m["attendance_rate"] for m in school)
    pool = ok(client.get(f"{E}/pool", headers=admin_headers))
    assert len(pool) >= 3
    web_login(client, "demo_school_boss")
    html = client.get("/education/trials", headers={"Accept-Language": "zh-CN"}).get_data(as_text=True)
    assert "上课很专注" in html and 'id="waitlist"' in html
