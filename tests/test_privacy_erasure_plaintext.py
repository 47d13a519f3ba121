"""THE erasure test (issue 18): after a customer is erased, no plaintext of theirs is left in any
table of the database, on SQLite and PostgreSQL.

The person leaves traces everywhere a CRM copies data: their record and its history (a changed
name and e-mail), a custom field (plain and encrypted), an activity, a ticket, a deal, consent
records, privacy requests (an access export kept for download), events dispatched to a webhook
subscription (deliveries exist), an API import, large CSV and XLSX exports (tasks keep their files), a workbench import upload
left half-way, a response stored for an ``Idempotency-Key``, a conversation archived with them.
The erasure runs as a tracked privacy request. Then EVERY table of the database is listed from
the catalogue (``sqlite_master`` / ``information_schema``) and EVERY value of every column read
(text, JSON, blobs and the members of zipped ones, whatever the type), and none may hold any of the person's values. Nothing is
allow-listed: what stays by law stays without the person (the deal and its amount, the request
record itself, the customer row as ``Erased customer <id>``) and the test checks that it stayed.
"""

from __future__ import annotations

import contextlib
import io
import json
import zipfile

import pytest

from crm_core.browser_testing import csrf_from, web_login
from crm_core.crypto.models import BlindIndex, SubjectKey
from crm_core.jobs.tasks import Task
from crm_core.testing import deliver_events, follow_task, run_cli

API = "/api/v1"
OLD_NAME = "Quintessa Vorname-Zq"
NAME = "Quintessa Plaintextova"
ZH_NAME = "欧阳测删"
PHONE_DIGITS = "13987654321"
OLD_EMAIL = "q.old-zq@example.org"
EMAIL = "quintessa.zq@example.org"
WECHAT = "wx_quintessa_77"
ID_NUMBER = "110101199003077777"
ACTIVITY_BODY = "prefers oolong zq-activity-body 喜欢乌龙茶"
TICKET_TITLE = "zq-ticket-title broken kettle"
TICKET_TEXT = "zq-ticket-description 水壶坏了"
EVIDENCE = "zq-consent-evidence signed form"
NOTES = f"phoned in by {NAME} zq-request-notes"
CHAT = "zq-chat-message 请删除我的数据"
DEAL_AMOUNT = "98765.43"
#: what must not be found (lower-cased); the phone by its last ten digits, in whatever format
VALUES = [
    OLD_NAME,
    NAME,
    ZH_NAME,
    PHONE_DIGITS[-10:],
    OLD_EMAIL,
    EMAIL,
    WECHAT,
    ID_NUMBER,
    "zq-activity-body",
    "喜欢乌龙茶",
    "zq-ticket-title",
    "zq-ticket-description",
    "水壶坏了",
    "zq-consent-evidence",
    "zq-request-notes",
    "zq-chat-message",
    "请删除我的数据",
]
OTHER = "Ottilie Untouched-Zq"  # someone else, in the same import file: must survive


@pytest.fixture
def admin(app, client, make_user):
    app.config["WEBHOOK_ALLOW_PRIVATE_URLS"] = True
    _user, headers = make_user("dpo", roles=("admin",))
    return headers


def _ok(response, code=200):
    assert response.status_code == code, (response.status_code, response.get_json())
    return response.get_json()


def _person(client, admin) -> dict:
    """The person and every trace of them (see the module)."""
    _ok(
        client.post(
            f"{API}/webhooks", json={"url": "http://127.0.0.1:9/hook", "events": ["*"]}, headers=admin
        ),
        201,
    )
    for spec in (
        {"name": "wechat", "type": "string"},
        {"name": "id_number", "type": "string", "encrypted": True, "blind_index": True},
    ):
        _ok(client.post(f"{API}/fields/customers", json=spec, headers=admin), 201)
    rule = {
        "name": "welcome",
        "trigger": "customer.updated",
        "actions": [{"type": "create_task", "params": {"subject": "Welcome call", "due_in_hours": 48}}],
    }
    _ok(client.post(f"{API}/automations", json=rule, headers=admin), 201)
    csv_file = f"name,phone,email\n{OLD_NAME},{PHONE_DIGITS},{OLD_EMAIL}\n{OTHER},13800000001,\n"
    form = {"file": (io.BytesIO(csv_file.encode()), "people.csv")}
    r = client.post(f"{API}/customers/import", data=form, headers=admin, content_type="multipart/form-data")
    outcome = follow_task(client, r, admin)
    assert outcome.status_code == 200, outcome.get_json()
    found = _ok(client.get(f"{API}/customers?q={PHONE_DIGITS}", headers=admin))
    (customer,) = [c for c in found if c["email"] == OLD_EMAIL]
    cid = customer["id"]
    _ok(
        client.patch(
            f"{API}/customers/{cid}",
            json={"name": NAME, "email": EMAIL, "custom": {"wechat": WECHAT, "id_number": ID_NUMBER}},
            headers=admin,
        )
    )
    _ok(
        client.post(
            f"{API}/activities",
            json={
                "kind": "note",
                "subject": f"call with {ZH_NAME}",
                "body": ACTIVITY_BODY,
                "customer_id": cid,
            },
            headers={**admin, "Idempotency-Key": "zq-activity-1"},
        ),
        201,
    )
    _ok(
        client.post(
            f"{API}/tickets",
            json={"title": TICKET_TITLE, "description": TICKET_TEXT, "customer_id": cid},
            headers=admin,
        ),
        201,
    )
    pipeline = {"name": "sales", "is_default": True, "stages": [{"name": "new"}]}
    _ok(client.post(f"{API}/pipelines", json=pipeline, headers=admin), 201)
    deal = _ok(
        client.post(
            f"{API}/deals",
            json={"title": f"Renewal {NAME}", "customer_id": cid, "amount": DEAL_AMOUNT},
            headers=admin,
        ),
        201,
    )
    _ok(
        client.post(
            f"{API}/customers/{cid}/consents",
            json={"purpose": "marketing", "status": "given", "source": "paper", "evidence": EVIDENCE},
            headers=admin,
        ),
        201,
    )
    _ok(
        client.post(
            f"{API}/conversations/messages",
            json={
                "source": "webchat-main",
                "channel": "webchat",
                "messages": [
                    {
                        "external_id": "zq-1",
                        "conversation": "zq-chat",
                        "sent_at": "2026-03-01T10:00:00+08:00",
                        "sender": {"kind": "customer", "id": cid},
                        "content": CHAT,
                        "customer_id": cid,
                    }
                ],
            },
            headers=admin,
        )
    )
    access = _ok(
        client.post(
            f"{API}/privacy-requests",
            json={"kind": "access", "customer_id": cid, "notes": NOTES},
            headers=admin,
        ),
        201,
    )
    assert _ok(client.post(f"{API}/privacy-requests/{access['id']}/process", headers=admin))[
        "export_available"
    ]
    export = client.get(f"{API}/privacy-requests/{access['id']}/export", headers=admin)
    assert EMAIL in export.get_data(as_text=True) and ID_NUMBER in export.get_data(as_text=True)
    # large exports are tasks keeping their file (CSV as text, XLSX zipped): make these large
    client.application.config["EXPORT_TASK_ROWS"] = 1
    for fmt in ("csv", "xlsx"):
        r = client.get(f"{API}/customers/export?format={fmt}", headers=admin)
        assert r.status_code == 202, (r.status_code, r.get_data(as_text=True)[:200])
        outcome = follow_task(client, r, admin)
        assert outcome.status_code == 200, outcome.get_json()
    # a workbench import the user left after the upload step: the file waits in import_upload
    # (saved by Excel in GBK, the person under their Chinese name)
    gbk_file = f"姓名,手机\n{ZH_NAME},{PHONE_DIGITS}\n{OTHER},13800000001\n".encode("gbk")
    assert web_login(client, "dpo").status_code == 302
    token = csrf_from(client, "/records/customers/import")
    upload = {
        "csrf_token": token,
        "step": "upload",
        "encoding": "",
        "file": (io.BytesIO(gbk_file), "excel.csv"),
    }
    r = client.post("/records/customers/import", data=upload, content_type="multipart/form-data")
    assert r.status_code in (302, 303), r.status_code
    deliver_events()
    return {"id": cid, "deal": deal, "access": access}


def _tables_and_columns(db) -> dict[str, list[str]]:
    """Every table of the database and its columns, from the catalogue."""
    from crm_core.db import is_postgres

    out: dict[str, list[str]] = {}
    if is_postgres():
        rows = db.execute_sql(
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE table_schema = current_schema() ORDER BY table_name, ordinal_position"
        ).fetchall()
        for table, column in rows:
            out.setdefault(table, []).append(column)
    else:
        names = db.execute_sql("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
        for (table,) in names:
            out[table] = [row[1] for row in db.execute_sql(f'PRAGMA table_info("{table}")').fetchall()]
    return out


def _texts(value) -> list[str]:
    """The ways a stored value can show a person's text: itself, its JSON decoded (``\\uXXXX``
    escapes included), a blob decoded as UTF-8 and as GB18030."""
    if value is None:
        return []
    if isinstance(value, memoryview | bytes | bytearray):
        raw = bytes(value)
        if raw[:2] == b"PK":  # a zip container (XLSX): what its members say
            with zipfile.ZipFile(io.BytesIO(raw)) as archive:
                return [archive.read(n).decode("utf-8", "ignore") for n in archive.namelist()]
        return [raw.decode("utf-8", "ignore"), raw.decode("gb18030", "ignore")]
    if isinstance(value, dict | list):
        return [json.dumps(value, ensure_ascii=False, default=str)]
    text = str(value)
    out = [text]
    with contextlib.suppress(ValueError, TypeError):
        out.append(json.dumps(json.loads(text), ensure_ascii=False))
    return out


def leaks(db) -> list[tuple[str, str, str]]:
    """(table, column, value found) for every occurrence of one of ``VALUES`` anywhere."""
    return _found(db, VALUES)


def _found(db, values) -> list[tuple[str, str, str]]:
    needles = [v.lower() for v in values]
    found = []
    for table, columns in _tables_and_columns(db).items():
        quoted = ", ".join(f'"{c}"' for c in columns)
        for row in db.execute_sql(f'SELECT {quoted} FROM "{table}"').fetchall():
            for column, value in zip(columns, row, strict=True):
                for text in _texts(value):
                    lowered = text.lower()
                    found += [(table, column, n) for n in needles if n in lowered]
    return sorted(set(found))


def _blind_indexes(db, cid: int) -> int:
    return BlindIndex.select().where(BlindIndex.entity == "customers", BlindIndex.record_id == cid).count()


def test_erasure_leaves_no_plaintext_anywhere(app, client, admin, db):
    person = _person(client, admin)
    cid = person["id"]
    before = leaks(db)
    tables = {t for t, _c, _v in before}
    # the test sees the copies it is about (else it would prove nothing)
    for table in ("customer", "audit_entry", "event_outbox", "webhook_delivery", "import_upload", "task"):
        assert table in tables, (table, before)
    assert {"activity", "ticket", "deal", "privacy_consent", "privacy_request", "idempotency_key"} <= tables
    runs = db.execute_sql(f"SELECT count(*) FROM automation_run WHERE customer_id = {int(cid)}")
    assert runs.fetchone()[0] >= 1  # the automation ran for the person (its log is scrubbed too)

    assert _blind_indexes(db, cid) == 1
    erasure = _ok(
        client.post(f"{API}/privacy-requests", json={"kind": "erasure", "customer_id": cid}, headers=admin),
        201,
    )
    done = _ok(client.post(f"{API}/privacy-requests/{erasure['id']}/process", headers=admin))
    assert done["status"] == "completed", done
    deliver_events()  # the erasure's own events reach the webhook too

    left = leaks(db)
    assert not left, "\n".join(map(str, left))
    # what stays, stays without the person
    after = _ok(client.get(f"{API}/customers/{cid}", headers=admin))
    assert after["name"] == f"Erased customer {cid}" and after["email"] is None
    deal = _ok(client.get(f"{API}/deals/{person['deal']['id']}", headers=admin))
    # bookkeeping law (e.g. 会计档案管理办法, HGB §257) keeps the sale: its amount stays
    assert deal["customer_id"] == cid and deal["amount"] == person["deal"]["amount"]
    others = _ok(client.get(f"{API}/customers?q=Ottilie", headers=admin))
    assert [c["name"] for c in others] == [OTHER]
    # and nobody else's data went with the person's: the other line of both files, the other
    # person's audit trail
    assert OTHER.lower() in {v for t, _c, v in _found(db, [OTHER]) if t == "import_upload"}
    assert {"audit_entry", "customer"} <= {t for t, _c, _v in _found(db, [OTHER])}
    # the CSV export kept the other person's line; the workbook, which cannot be edited as text,
    # was dropped from its finished task
    files = {t.output_type: t for t in Task.select() if t.output_type}
    csv_task = next(t for kind, t in files.items() if "csv" in kind)
    xlsx_task = next(t for kind, t in files.items() if "sheet" in kind)
    assert OTHER in bytes(csv_task.output_data).decode("utf-8-sig")
    assert xlsx_task.output_data is None and xlsx_task.output_name == ""
    assert client.get(f"{API}/tasks/{xlsx_task.id}", headers=admin).get_json()["file"] is None
    assert (
        client.get(f"{API}/privacy-requests/{person['access']['id']}/export", headers=admin).status_code
        == 410
    )
    record = _ok(client.get(f"{API}/privacy-requests/{erasure['id']}", headers=admin))
    assert record["status"] == "completed" and record["erasure"]["erased"]["subject_key"] == 1
    # keyed hashes are not plaintext, but still link: the blind index of the encrypted field is
    # gone, and the person's key is destroyed (every token bound to them is unreadable)
    assert _blind_indexes(db, cid) == 0
    key = SubjectKey.get(SubjectKey.subject == f"customers/{cid}")
    assert key.wrapped is None and key.shredded_at is not None
    # the chain still verifies, with the redactions in it
    result = run_cli(app, "audit", "verify")
    assert result.exit_code == 0, result.output
