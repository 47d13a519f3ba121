"""The import wizard in headless Chromium, in zh-CN and English: upload an Excel-made GBK file
with Chinese headings, see its rows decoded, keep the suggested mapping, update by phone, follow
the progress to the report and download the refused rows. Screenshots go to
``test-artifacts/screenshots/`` (``import-*``)."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

PASSWORD = "Importer-Passw0rd!"

pytestmark = [pytest.mark.browser, pytest.mark.slow]

TEXT = {
    "en": {
        "next": "Next: preview",
        "done": "0 record(s) created, 1 updated, 1 row(s) refused.",
        "empty": "The file is empty.",
    },
    "zh_CN": {
        "next": "下一步：预览",
        "done": "新建 0 条记录，更新 1 条，拒绝 1 行。",
        "empty": "文件是空的。",
    },
}


def _user(live_server, username: str) -> None:
    api, headers = live_server["api"], live_server["headers"]
    r = api.post(
        "/api/v1/users",
        json={"username": username, "password": PASSWORD, "roles": ["admin"], "name": username},
        headers=headers,
    )
    assert r.status_code == 201, r.get_json()


@pytest.mark.parametrize("lang,phone", [("zh_CN", "13700137001"), ("en", "13700137002")])
def test_import_wizard_upload_preview_map_run(page, live_server, shot, login, lang, phone):
    base, api, headers = live_server["url"], live_server["api"], live_server["headers"]
    username = f"importer_{lang.lower()}"
    _user(live_server, username)
    existing = api.post(
        "/api/v1/customers", json={"name": "旧名字", "phone": phone}, headers=headers
    ).get_json()
    login(page, base, username, PASSWORD)
    page.click("details.dropdown summary")
    page.click(f"button[data-lang={lang}]")
    page.wait_for_load_state()
    text = TEXT[lang]

    page.goto(base + "/records/customers/import")
    # an empty file first: the page says why, in the user's language, and keeps the form
    page.set_input_files("input[name=file]", {"name": "空.csv", "mimeType": "text/csv", "buffer": b""})
    page.click(f"button:has-text('{text['next']}')")
    page.wait_for_selector("#import-error")
    assert page.locator("#import-error").inner_text() == text["empty"]
    shot(page, f"import-0-empty-file-{lang}")
    spaced = f"{phone[:3]} {phone[3:7]} {phone[7:]}"
    body = f"名称,手机,邮箱\n周杰{lang},{spaced},zhou-{lang}@example.com\n坏号码,12345,\n".encode("gbk")
    page.set_input_files("input[name=file]", {"name": "客户.csv", "mimeType": "text/csv", "buffer": body})
    shot(page, f"import-1-upload-{lang}")
    page.click(f"button:has-text('{text['next']}')")

    page.wait_for_selector("#import-preview")
    # another encoding reads the file again at once (Western: the Chinese turns to mojibake)
    page.select_option("#import-encoding select[name=encoding]", "cp1252")
    page.wait_for_url("**encoding=cp1252**")
    assert "周杰" not in page.locator("#import-preview").inner_text()
    page.select_option("#import-encoding select[name=encoding]", "")
    page.wait_for_url("**encoding=")
    assert page.locator("#import-preview tbody tr").first.inner_text().split("\t")[1] == f"周杰{lang}"
    assert page.locator("select[name=column-0]").input_value() == "name"
    assert page.locator("select[name=column-1]").input_value() == "phone"
    assert page.locator("select[name=column-2]").input_value() == "email"
    page.check("input[name=mode][value=upsert]")
    page.select_option("select[name=match_key]", "phone")
    shot(page, f"import-2-mapping-{lang}")
    page.click("#import-mapping button[type=submit]")

    page.wait_for_selector("#task-progress")
    assert page.locator("#task-progress progress").count() == 1  # queued: the bar is shown
    shot(page, f"import-3-progress-{lang}")
    from crm_core.jobs.tasks import run_pending

    worker = threading.Thread(target=run_pending, args=(live_server["app"],))
    worker.start()
    worker.join(timeout=30)
    page.wait_for_selector("#task-progress[data-status=done] #import-result", timeout=15000)
    result = page.locator("#import-result").inner_text()
    assert text["done"] in result, result
    assert page.locator("tr.crm-row-errors[data-row='3']").count() == 1
    shot(page, f"import-4-result-{lang}")
    with page.expect_download() as download:
        page.click("#import-error-files a[data-format=csv]")
    content = Path(download.value.path()).read_text(encoding="utf-8-sig")
    assert "手机" in content and "\n3," in content.replace("\r\n", "\n")

    record = api.get(f"/api/v1/customers/{existing['id']}", headers=headers).get_json()
    assert record["name"] == f"周杰{lang}" and record["email"] == f"zhou-{lang.lower()}@example.com"
    # the list finds the customer by the phone typed with spaces
    page.goto(base + "/records/customers/?q=" + spaced.replace(" ", "+"))
    assert f"周杰{lang}" in page.locator("main").inner_text()
