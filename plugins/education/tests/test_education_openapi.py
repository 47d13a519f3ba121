"""The education API's computed answers keep to the OpenAPI document, and its job and channel
names read in Chinese: what ``tests/test_openapi_fuzz.py`` and ``tests/test_web_zh_crawl.py``
check for the core, asserted here so the industry run (every plugin enabled) catches a
regression. Each answer is read with data in it, so the schema is checked on real rows."""

from __future__ import annotations

import datetime as dt

from education_testlib import E, conforms

from crm_core.browser_testing import web_login
from crm_core.plugin_api import utcnow

ZH = {"Accept-Language": "zh-CN"}


def test_lead_and_hours_answers_keep_to_their_declared_schemas(client, admin_headers, school):
    lead = school.student("小明", lifecycle_stage="lead")
    past = (utcnow() - dt.timedelta(hours=3)).isoformat() + "Z"
    school.post("/followups", {"customer_id": lead, "content": "没接", "next_contact_at": past})
    due = conforms(client, f"{E}/followups/due", client.get(f"{E}/followups/due", headers=admin_headers))
    assert [row["customer_id"] for row in due] == [lead]

    pooled = school.student("小刚", lifecycle_stage="lead", owner_id=None)
    [row] = conforms(client, f"{E}/pool", client.get(f"{E}/pool", headers=admin_headers))
    assert row["customer_id"] == pooled and row["last_contact_at"] is None
    claimed = client.post(f"{E}/pool/{pooled}/claim", headers=admin_headers)
    assert conforms(client, f"{E}/pool/{{customer_id}}/claim", claimed, "post")["customer_id"] == pooled
    today = utcnow().date().isoformat()
    for by in ("", "consultant"):
        query = f"?from={today}&until={today}&by={by}"
        funnel = conforms(
            client, f"{E}/metrics/funnel", client.get(f"{E}/metrics/funnel{query}", headers=admin_headers)
        )
        assert funnel["from"] == today and sum(g["leads"] for g in funnel["groups"]) >= 1
        conforms(
            client, f"{E}/metrics/school", client.get(f"{E}/metrics/school{query}", headers=admin_headers)
        )

    student = school.student("小红")
    package = school.package(student, school.course("少儿美术"), hours="10")
    entries = client.get(f"{E}/packages/{package['id']}/entries", headers=admin_headers)
    [purchase] = conforms(client, f"{E}/packages/{{package_id}}/entries", entries)
    assert purchase["kind"] == "purchase"
    path = f"{E}/students/{{customer_id}}/hours"
    hours = conforms(client, path, client.get(f"{E}/students/{student}/hours", headers=admin_headers))
    assert hours["customer_id"] == student and len(hours["packages"]) == 1


def test_bad_metrics_period_is_a_json_error_naming_the_field(client, admin_headers):
    r = client.get(f"{E}/metrics/funnel?from=tomorrow", headers=admin_headers)
    assert r.status_code == 400 and r.is_json
    body = r.get_json()
    assert body["code"] == 400 and "from" in body["errors"], body
    r = client.get(f"{E}/metrics/school?by=teacher", headers=admin_headers)
    assert r.status_code == 400 and "by" in r.get_json()["errors"]


def test_jobs_and_followup_channels_read_in_chinese(client, make_user):
    make_user("zh_jobs_admin")
    web_login(client, "zh_jobs_admin")
    jobs = client.get("/admin/jobs", headers=ZH).get_data(as_text=True)
    assert "天未跟进的线索退回公海" in jobs and "提醒学员 24 小时内开始的试听课" in jobs
    # the descriptions were the jobs' docstrings, cut at their first line and in English
    assert "return to the shared pool" not in jobs and "trial.reminder for" not in jobs
    page = client.get("/education/followups", headers=ZH).get_data(as_text=True)
    assert '<option value="phone"' in page, "the note form's channel select is gone"
    assert ">电话<" in page and ">上门<" in page
    assert ">Phone<" not in page and ">Visit<" not in page
