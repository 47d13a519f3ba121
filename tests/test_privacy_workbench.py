"""The workbench page of privacy requests (issue 18): listed for those who read them, in English
and Chinese, overdue marked, filters, processing and rejecting from the page (same permissions
and audit as the API), export downloads; hidden from the menu without the grant."""

from __future__ import annotations

import re

import pytest

from crm_core.browser_testing import csrf_from, post_form, web_login

API = "/api/v1"


@pytest.fixture
def setup(app, client, make_user):
    _dpo, headers = make_user("dpo", roles=("admin",))
    make_user("viewer", roles=("readonly",))
    customer = client.post(f"{API}/customers", json={"name": "Workbench Person"}, headers=headers).get_json()
    late = client.post(
        f"{API}/privacy-requests",
        json={"kind": "access", "customer_id": customer["id"], "requested_at": "2026-01-02T00:00:00Z"},
        headers=headers,
    ).get_json()
    erasure = client.post(
        f"{API}/privacy-requests", json={"kind": "erasure", "customer_id": customer["id"]}, headers=headers
    ).get_json()
    return {"headers": headers, "customer": customer, "late": late, "erasure": erasure}


def _row(html: str, request_id: int) -> str:
    match = re.search(rf'<tr data-request="{request_id}".*?</tr>', html, re.S)
    assert match, html
    return match.group(0)


def test_the_page_lists_requests_in_english_and_chinese(client, setup):
    assert web_login(client, "dpo").status_code == 302
    html = client.get("/privacy/requests").get_data(as_text=True)
    assert "Privacy requests" in html and "Workbench Person" in html
    late = _row(html, setup["late"]["id"])
    assert "overdue" in late and "Access (copy)" in late and "Received" in late
    assert "overdue" not in _row(html, setup["erasure"]["id"])
    assert 'href="/privacy/requests"' in client.get("/").get_data(as_text=True)  # in the menu
    zh = client.get("/privacy/requests", headers={"Accept-Language": "zh-CN"}).get_data(as_text=True)
    assert "隐私请求" in zh and "删除" in zh
    zh_late = _row(zh, setup["late"]["id"])
    assert "查阅复制" in zh_late and "已超时" in zh_late and "已收到" in zh_late and "其他" in zh_late
    only_late = client.get("/privacy/requests?overdue=1").get_data(as_text=True)
    assert f'data-request="{setup["late"]["id"]}"' in only_late
    assert f'data-request="{setup["erasure"]["id"]}"' not in only_late
    only_erasures = client.get("/privacy/requests?kind=erasure").get_data(as_text=True)
    assert f'data-request="{setup["late"]["id"]}"' not in only_erasures


def test_process_download_and_reject_from_the_page(client, setup):
    web_login(client, "dpo")
    late = setup["late"]["id"]
    r = post_form(client, f"/privacy/requests/{late}/process", {}, page="/privacy/requests")
    assert r.status_code == 302
    html = client.get("/privacy/requests").get_data(as_text=True)
    assert f"Request #{late} completed." in html and "Completed" in _row(html, late)
    export = client.get(f"/privacy/requests/{late}/export.html")
    assert export.status_code == 200 and "Workbench Person" in export.get_data(as_text=True)
    assert "attachment" in export.headers["Content-Disposition"]
    as_json = client.get(f"/privacy/requests/{late}/export.json")
    assert as_json.get_json()["customer"]["name"] == "Workbench Person"

    erasure = setup["erasure"]["id"]
    refused = post_form(
        client, f"/privacy/requests/{erasure}/reject", {"reason": ""}, page="/privacy/requests"
    )
    assert "Give the reason" in client.get(refused.headers["Location"]).get_data(as_text=True)
    post_form(
        client, f"/privacy/requests/{erasure}/reject", {"reason": "legal hold"}, page="/privacy/requests"
    )
    row = _row(client.get("/privacy/requests").get_data(as_text=True), erasure)
    assert "Rejected" in row and "legal hold" in row
    api = client.get(f"{API}/privacy-requests/{erasure}", headers=setup["headers"]).get_json()
    assert api["status"] == "rejected"


def test_without_the_grant_there_is_no_page_and_no_menu(client, setup):
    web_login(client, "viewer")
    assert client.get("/privacy/requests").status_code == 403
    assert "/privacy/requests" not in client.get("/").get_data(as_text=True)
    token = csrf_from(client, "/")
    r = client.post(f"/privacy/requests/{setup['late']['id']}/process", data={"csrf_token": token})
    assert r.status_code == 403
