"""Long work is a task: imports and large exports answer 202 with a task whose progress, result
and file the creator follows through /api/v1/tasks (and the workbench), on SQLite and PostgreSQL."""

from __future__ import annotations

import io
import re
import threading
import time

import pytest

from crm_core.browser_testing import csrf_from, web_login
from crm_core.jobs import tasks
from crm_core.testing import follow_task
from crm_core.transfer import customers as customers_import

API = "/api/v1"


def post_import(client, headers, text: str, mode="valid_only", query=""):
    form = {"file": (io.BytesIO(text.encode()), "people.csv"), "mode": mode}
    return client.post(
        f"{API}/customers/import{query}", data=form, headers=headers, content_type="multipart/form-data"
    )


def big_csv(rows: int, bad=()) -> str:
    lines = ["姓名,手机,邮箱,标签"]
    for i in range(rows):
        email = "not-an-email" if i in bad else f"p{i}@example.com"
        lines.append(f"客户{i},+86139{i:08d},{email},vip")
    return "\n".join(lines) + "\n"


def test_a_5000_row_import_is_a_task_with_moving_progress(app, client, make_user, monkeypatch):
    user, headers = make_user("importer", roles=("sales",))
    # chunks of 250 rows: the twenty chunks of a 20,000-row file at a quarter of the rows
    monkeypatch.setattr(customers_import, "CHUNK", 250)
    written = []
    original = tasks.TaskContext.progress

    def spy(self, done, total=None, phase=None):
        written.append((phase, done, total))
        original(self, done, total, phase)

    monkeypatch.setattr(tasks.TaskContext, "progress", spy)
    r = post_import(client, headers, big_csv(5_000, bad={7, 4_999}))
    # answered before any of the work: nothing is imported yet, the task waits for a worker
    assert r.status_code == 202, r.get_json()
    body = r.get_json()
    assert body["status"] == "queued" and body["kind"] == "customers.import"
    assert r.headers["Location"] == f"{API}/tasks/{body['id']}" == body["links"]["self"]
    assert client.get(f"{API}/customers?page_size=1", headers=headers).get_json() == []

    started = time.perf_counter()
    worker = threading.Thread(target=tasks.run_pending, args=(app,))
    worker.start()
    seen = []
    try:
        while worker.is_alive():  # polled as a client would (slowly enough for the rate limits)
            answer = client.get(r.headers["Location"], headers=headers)
            assert answer.status_code == 200, answer.get_json()
            state = answer.get_json()
            seen.append((state["status"], state["progress"]["phase"], state["progress"]["done"]))
            time.sleep(0.2)
    finally:
        worker.join()
    elapsed = time.perf_counter() - started
    print(f"\n5,000-row import task on {app.config['DATABASE_URL'].split(':')[0]}: {elapsed:.1f} s")

    final = client.get(r.headers["Location"], headers=headers).get_json()
    assert final["status"] == "done", final
    report = final["result"]
    assert report["total_rows"] == 5_000 and report["imported"] == 4_998 and report["failed"] == 2
    assert [e["row"] for e in report["errors"]] == [9, 5_001]  # rows as the spreadsheet numbers them
    assert "email" in report["errors"][0]["errors"]
    assert final["progress"]["percent"] == 100 and final["finished_at"]
    # the progress moved through the phases, and the API showed it while the task ran
    phases = [p for p, _, _ in written if p]
    assert phases == ["reading", "validating", "checking", "importing"]
    start = [p for p, _, _ in written].index("importing")
    importing = [d for _, d, _ in written[start + 1 :]]
    assert importing == sorted(importing) and len(importing) == 20 and importing[-1] == 4_998
    assert any(status == "running" and done > 0 for status, _, done in seen), seen[:5]
    running_done = [done for status, _, done in seen if status == "running"]
    assert len(set(running_done)) > 1, "progress fields move while the task runs"
    # written as the creator, through the write path (audit entries per row)
    from crm_core.audit.models import AuditEntry
    from crm_core.entities.models import Customer

    assert Customer.select().count() == 4_998
    assert set(Customer.select(Customer.owner_id).distinct().tuples()) == {(user.id,)}
    audited = AuditEntry.select().where(AuditEntry.resource == "customers", AuditEntry.action == "create")
    assert audited.count() == 4_998 and audited.first().actor_id == user.id


def test_a_task_is_only_its_creators(client, make_user):
    _, alice = make_user("alice", roles=("sales",))
    _, bob = make_user("bob", roles=("sales",))
    _, admin = make_user("boss")
    r = post_import(client, alice, "name\nOne\n")
    url = r.headers["Location"]
    follow_task(client, r, alice)
    assert client.get(url, headers=alice).status_code == 200
    assert client.get(url, headers=bob).status_code == 404
    assert client.get(url + "/file", headers=bob).status_code == 404
    assert client.get(f"{API}/tasks/999999", headers=alice).status_code == 404
    assert client.get(f"{API}/tasks", headers=bob).get_json() == []
    alice_id = client.get(url, headers=alice).get_json()["created_by"]
    assert client.get(f"{API}/tasks?created_by={alice_id}", headers=bob).get_json() == []
    mine = client.get(f"{API}/tasks", headers=alice).get_json()
    assert [t["links"]["self"] for t in mine] == [url] and mine[0]["status"] == "done"
    assert client.get(url, headers=admin).status_code == 200  # jobs:read sees every task
    assert len(client.get(f"{API}/tasks?created_by={alice_id}", headers=admin).get_json()) == 1


BAD_CSV = "name,email\ngood,good@example.com\n,nobody@example.com\nbad email,nope\n"


def test_a_failing_task_reports_its_error_as_json(client, admin_headers):
    r = post_import(client, admin_headers, BAD_CSV, mode="all_or_nothing")
    assert r.status_code == 202
    follow_task(client, r, admin_headers)
    task = client.get(r.headers["Location"], headers=admin_headers).get_json()
    assert task["status"] == "failed" and task["result"] is None
    error = task["error"]
    assert error["code"] == 422 and error["report"]["imported"] == 0  # the 422 the request gave
    assert [e["row"] for e in error["report"]["errors"]] == [3, 4]
    assert set(error["errors"]) == {"row 3", "row 4"}
    assert client.get(f"{API}/customers", headers=admin_headers).get_json() == []
    # a file that is not a customer file fails with the 400 the import always gave
    r = post_import(client, admin_headers, "phone\n13800138000\n")
    task = follow_task(client, r, admin_headers).task
    assert task["status"] == "failed" and task["error"]["code"] == 400 and "name" in task["error"]["message"]
    failed = client.get(f"{API}/tasks?status=failed", headers=admin_headers).get_json()
    assert len(failed) == 2
    # checked in the request, before any task: the mode and the permission
    assert post_import(client, admin_headers, "name\nx\n", mode="sometimes").status_code == 422


def test_an_unexpected_failure_is_a_500_without_internals(app, client, admin_headers, monkeypatch):
    from crm_core.transfer import customers as transfer

    def boom(*args, **kwargs):
        raise RuntimeError("secret detail")

    monkeypatch.setattr(transfer, "import_customers", boom)
    task = follow_task(client, post_import(client, admin_headers, "name\nx\n"), admin_headers).task
    assert task["status"] == "failed" and task["error"]["code"] == 500
    assert "RuntimeError" in task["error"]["message"] and "secret" not in task["error"]["message"]


def test_sync_true_keeps_a_small_import_in_the_request(app, client, admin_headers):
    r = post_import(client, admin_headers, "name\nOne\nTwo\n", query="?sync=true")
    assert r.status_code == 200 and r.get_json()["imported"] == 2
    app.config["IMPORT_SYNC_MAX_ROWS"] = 1
    r = post_import(client, admin_headers, "name\nThree\nFour\n", query="?sync=true")
    assert r.status_code == 202  # too large for the request: a task as without sync
    assert follow_task(client, r, admin_headers).get_json()["imported"] == 2


def test_tasks_run_in_the_web_process_when_configured(app, client, admin_headers):
    app.config["TASKS_RUN_IN_WEB"] = True
    r = post_import(client, admin_headers, "name\nThreaded\n")
    assert r.status_code == 202
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        task = client.get(r.headers["Location"], headers=admin_headers).get_json()
        if task["status"] in ("done", "failed"):
            break
        time.sleep(0.05)
    assert task["status"] == "done" and task["result"]["imported"] == 1, task
    assert tasks.run_pending(app) == 0  # the scheduler finds nothing left to claim


def test_a_task_is_claimed_once_and_a_dead_one_fails(app, client, admin_headers):
    r = post_import(client, admin_headers, "name\nx\n")
    task_id = r.get_json()["id"]
    assert tasks.claim_next("first") == task_id
    assert tasks.claim_next("second") is None
    assert tasks.run_task(app, task_id) is False  # running already: nobody else takes it
    tasks.Task.update(heartbeat_at=tasks.utcnow() - tasks.dt.timedelta(hours=1)).where(
        tasks.Task.id == task_id
    ).execute()
    assert tasks.fail_stale() == 1
    task = client.get(r.headers["Location"], headers=admin_headers).get_json()
    assert task["status"] == "failed" and "Interrupted" in task["error"]["message"]


def test_a_large_export_is_a_task_with_a_file_and_is_audited(app, client, make_user):
    from crm_core.audit.models import AuditEntry

    _, headers = make_user("exporter")
    for name in ("A", "B", "=HYPERLINK(1)"):
        assert client.post(f"{API}/customers", json={"name": name}, headers=headers).status_code == 201
    small = client.get(f"{API}/customers/export?format=csv", headers=headers)
    assert small.status_code == 200  # under EXPORT_TASK_ROWS: the download itself
    app.config["EXPORT_TASK_ROWS"] = 2
    r = client.get(f"{API}/customers/export?format=csv&sort=name", headers=headers)
    assert r.status_code == 202 and r.get_json()["kind"] == "customers.export"
    assert client.get(r.headers["Location"] + "/file", headers=headers).status_code == 404  # not yet
    task = follow_task(client, r, headers).task
    assert task["status"] == "done" and task["result"]["rows"] == 3
    assert task["file"]["url"] == task["links"]["file"] and task["progress"]["total"] == 3
    f = client.get(task["links"]["file"], headers=headers)
    assert f.status_code == 200 and "attachment" in f.headers["Content-Disposition"]
    text = f.data.decode("utf-8-sig")
    assert text.splitlines()[1].split(",")[1] == "'=HYPERLINK(1)" and len(text.splitlines()) == 4
    exports = AuditEntry.select().where(AuditEntry.action == "export", AuditEntry.resource == "customers")
    assert exports.count() == 2  # the small download and the task, alike
    assert client.get(f"{API}/customers/export?format=pdf", headers=headers).status_code == 400


@pytest.mark.parametrize(
    "lang, queued, done", [("en", "queued", "row(s) imported"), ("zh-CN", "导入已排队", "行")]
)
def test_the_workbench_import_shows_progress_then_the_report(app, client, make_user, lang, queued, done):
    make_user("webadmin")
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = lang
    assert web_login(client, "webadmin").status_code == 302
    token = csrf_from(client, "/records/customers/import")
    r = client.post(
        "/records/customers/import",
        data={"csrf_token": token, "file": (io.BytesIO(BAD_CSV.encode()), "people.csv")},
        content_type="multipart/form-data",
    )
    assert r.status_code == 303
    page = client.get(r.headers["Location"])
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and 'data-status="queued"' in html and queued in html
    assert 'hx-trigger="every 1s"' in html and "<script>" not in html  # polled by htmx, CSP-safe
    fragment_url = html.split('hx-get="', 1)[1].split('"', 1)[0]
    tasks.run_pending(app)
    fragment = client.get(fragment_url).get_data(as_text=True)
    assert 'data-status="done"' in fragment and "hx-trigger" not in fragment  # polling stops
    assert done in fragment and 'data-row="3"' in fragment and 'data-row="4"' in fragment
    # another user's task is not shown
    make_user("other", roles=("sales",))
    other = app.test_client()
    assert web_login(other, "other").status_code == 302
    assert other.get(fragment_url).status_code == 404


# --- custom objects and the workbench's other collections ----------------------------------------

OBJ = f"{API}/objects"
COURSE = {"name": "course", "fields": [{"name": "level", "type": "int", "min": 1, "max": 9}]}


def post_object_import(client, headers, text: str, mode="valid_only", query=""):
    form = {"file": (io.BytesIO(text.encode()), "courses.csv"), "mode": mode}
    return client.post(
        f"{OBJ}/course/import{query}", data=form, headers=headers, content_type="multipart/form-data"
    )


def test_a_custom_object_import_is_a_task_run_as_its_creator(app, client, make_user):
    from crm_core.audit.models import AuditEntry

    user, headers = make_user("objects_admin")
    _, bob = make_user("bob", roles=("sales",))
    assert client.post(OBJ, json=COURSE, headers=headers).status_code == 201
    r = post_object_import(client, headers, "name,level\nMath,3\nArt,12\nChem,2\n")
    assert r.status_code == 202, r.get_json()
    body = r.get_json()
    assert body["kind"] == "records.import" and body["status"] == "queued"
    assert r.headers["Location"] == f"{API}/tasks/{body['id']}"
    assert client.get(f"{OBJ}/course", headers=headers).get_json() == []  # not yet
    assert client.get(r.headers["Location"], headers=bob).status_code == 404
    outcome = follow_task(client, r, headers)
    report = outcome.get_json()
    assert outcome.status_code == 200 and (report["imported"], report["failed"]) == (2, 1)
    assert [e["row"] for e in report["errors"]] == [3] and outcome.task["progress"]["percent"] == 100
    rows = client.get(f"{OBJ}/course?sort=name", headers=headers).get_json()
    assert [(c["name"], c["owner_id"]) for c in rows] == [("Chem", user.id), ("Math", user.id)]
    created = AuditEntry.select().where(
        AuditEntry.resource == "objects.course", AuditEntry.action == "create"
    )
    assert created.count() == 2 and {e.actor_id for e in created} == {user.id}
    assert client.get(r.headers["Location"], headers=bob).status_code == 404  # still only its creator's
    # all-or-nothing: the task fails with the 422 the request gave, nothing imported
    failed = follow_task(
        client, post_object_import(client, headers, "name,level\nX,1\nY,99\n", "all_or_nothing"), headers
    )
    assert failed.status_code == 422 and "row 3" in failed.get_json()["errors"]
    assert len(client.get(f"{OBJ}/course", headers=headers).get_json()) == 2
    # sync=true keeps a small file in the request; a larger one is queued as without it
    r = post_object_import(client, headers, "name,level\nSync,1\n", query="?sync=true")
    assert r.status_code == 200 and r.get_json()["imported"] == 1
    app.config["IMPORT_SYNC_MAX_ROWS"] = 1
    r = post_object_import(client, headers, "name,level\nA,1\nB,1\n", query="?sync=true")
    assert r.status_code == 202 and follow_task(client, r, headers).get_json()["imported"] == 2
    # checked in the request: the mode, the permission, the type
    assert post_object_import(client, headers, "name\nx\n", mode="sometimes").status_code == 422
    assert post_object_import(client, bob, "name\nx\n").status_code == 403
    assert client.post(f"{OBJ}/nosuch/import", headers=headers).status_code == 404


def test_a_large_custom_object_export_is_a_task_with_a_file(app, client, make_user):
    from crm_core.audit.models import AuditEntry

    _, headers = make_user("objects_admin")
    _, bob = make_user("bob", roles=("sales",))
    assert client.post(OBJ, json=COURSE, headers=headers).status_code == 201
    for name in ("Math", "=HYPERLINK(1)", "Art"):
        r = client.post(f"{OBJ}/course", json={"name": name, "custom": {"level": 2}}, headers=headers)
        assert r.status_code == 201, r.get_json()
    small = client.get(f"{OBJ}/course/export?format=csv", headers=headers)
    assert small.status_code == 200 and small.mimetype == "text/csv"
    app.config["EXPORT_TASK_ROWS"] = 2
    r = client.get(f"{OBJ}/course/export?format=csv&sort=name", headers=headers)
    assert r.status_code == 202 and r.get_json()["kind"] == "records.export"
    url = r.headers["Location"]
    assert client.get(url + "/file", headers=headers).status_code == 404  # not yet
    task = follow_task(client, r, headers).task
    assert task["status"] == "done" and task["result"]["rows"] == 3 and task["progress"]["total"] == 3
    f = client.get(task["links"]["file"], headers=headers)
    assert f.status_code == 200 and "attachment" in f.headers["Content-Disposition"]
    lines = f.data.decode("utf-8-sig").splitlines()
    assert lines[0] == "id,name,owner_id,department_id,created_at,updated_at,custom.level"
    assert [line.split(",")[1] for line in lines[1:]] == ["'=HYPERLINK(1)", "Art", "Math"]  # neutralised
    assert client.get(url, headers=bob).status_code == 404
    assert client.get(url + "/file", headers=bob).status_code == 404
    exports = AuditEntry.select().where(
        AuditEntry.action == "export", AuditEntry.resource == "objects.course"
    )
    assert exports.count() == 2  # the small download and the task, alike
    xlsx = follow_task(client, client.get(f"{OBJ}/course/export?format=xlsx", headers=headers), headers)
    assert client.get(xlsx.task["links"]["file"], headers=headers).data[:2] == b"PK"
    assert client.get(f"{OBJ}/course/export?format=pdf", headers=headers).status_code == 400


def _web_client(app, make_user, username, lang, roles=("admin",)):
    make_user(username, roles=roles)
    web = app.test_client()
    web.environ_base["HTTP_ACCEPT_LANGUAGE"] = lang
    assert web_login(web, username).status_code == 302
    return web


@pytest.mark.parametrize(
    "lang, queued, done", [("en", "queued", "1 row(s) imported, 1 refused"), ("zh-CN", "导入已排队", "行")]
)
def test_a_workbench_import_of_another_collection_is_a_task(app, make_user, lang, queued, done):
    from crm_core.entities.models import Company

    web = _web_client(app, make_user, "webadmin", lang)
    token = csrf_from(web, "/records/companies/import")
    r = web.post(
        "/records/companies/import",
        data={
            "csrf_token": token,
            "file": (io.BytesIO(b"name,website\nAcme,https://acme.example\n,nope\n"), "c.csv"),
        },
        content_type="multipart/form-data",
    )
    assert r.status_code == 303 and "task=" in r.headers["Location"]
    task = tasks.Task.get_by_id(int(r.headers["Location"].split("task=")[1]))
    assert task.kind == "records.import" and task.params["via"] == "web"
    html = web.get(r.headers["Location"]).get_data(as_text=True)
    assert 'data-status="queued"' in html and queued in html and 'hx-trigger="every 1s"' in html
    assert Company.select().count() == 0
    fragment_url = html.split('hx-get="', 1)[1].split('"', 1)[0]
    tasks.run_pending(app)
    fragment = web.get(fragment_url).get_data(as_text=True)
    assert 'data-status="done"' in fragment and "hx-trigger" not in fragment
    assert done in fragment and 'data-row="3"' in fragment and 'data-row="2"' not in fragment
    assert [c.name for c in Company.select()] == ["Acme"]
    other = _web_client(app, make_user, "other", lang, roles=("sales",))
    assert other.get(fragment_url).status_code == 404
    # an unreadable file is refused on the page, before any task
    r = web.post(
        "/records/companies/import",
        data={"csrf_token": token, "file": (io.BytesIO(b"\x00\xff\x00garbage"), "c.xlsx")},
        content_type="multipart/form-data",
    )
    assert r.status_code == 422 and tasks.Task.select().count() == 1


@pytest.mark.parametrize(
    "lang, queued, done, download",
    [
        ("en", "The export is queued", "3 row(s) exported.", "Download"),
        ("zh-CN", "导出已排队", "已导出 3 行", "下载"),
    ],
)
def test_a_large_workbench_export_is_a_task_with_a_download(
    app, client, make_user, lang, queued, done, download
):
    from crm_core.audit.models import AuditEntry

    _, headers = make_user("api_admin")
    for name in ("Beta", "=HYPERLINK(1)", "Alpha"):
        assert client.post(f"{API}/companies", json={"name": name}, headers=headers).status_code == 201
    web = _web_client(app, make_user, "webadmin", lang)
    assert web.get("/records/companies/export.csv").status_code == 200  # small: the download itself
    app.config["EXPORT_TASK_ROWS"] = 2
    r = web.get("/records/companies/export.csv?sort=name")
    assert r.status_code == 303 and "/tasks/" in r.headers["Location"]
    page = web.get(r.headers["Location"])
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and 'data-status="queued"' in html and queued in html
    assert 'hx-trigger="every 1s"' in html and "<script>" not in html
    fragment_url = html.split('hx-get="', 1)[1].split('"', 1)[0]
    tasks.run_pending(app)
    fragment = web.get(fragment_url).get_data(as_text=True)
    assert 'data-status="done"' in fragment and "hx-trigger" not in fragment and done in fragment
    assert download in fragment
    link = re.search(r'<a href="([^"]+)" download', fragment).group(1)
    f = web.get(link)
    assert f.status_code == 200 and "attachment" in f.headers["Content-Disposition"]
    names = [line.split(",")[1] for line in f.data.decode("utf-8-sig").splitlines()[1:]]
    assert names == ["'=HYPERLINK(1)", "Alpha", "Beta"]
    exports = AuditEntry.select().where(AuditEntry.action == "export", AuditEntry.resource == "companies")
    assert exports.count() == 2  # the small download and the task, alike
    other = _web_client(app, make_user, "other", lang, roles=("sales",))
    for path in (r.headers["Location"], fragment_url, link):
        assert other.get(path).status_code == 404, path
    # customers over the threshold take the same page (their own export task)
    for name in ("C1", "C2", "C3"):
        assert client.post(f"{API}/customers", json={"name": name}, headers=headers).status_code == 201
    r = web.get("/records/customers/export.xlsx")
    assert r.status_code == 303 and "/tasks/" in r.headers["Location"]
    tasks.run_pending(app)
    fragment = web.get(r.headers["Location"]).get_data(as_text=True)
    link = re.search(r'<a href="([^"]+)" download', fragment).group(1)
    assert web.get(link).data[:2] == b"PK"
