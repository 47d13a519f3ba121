"""The batched write path of imports: one audit entry and one event per customer, each kind
written as one multi-row insert per chunk, the audit chain still whole."""

from __future__ import annotations

import io

from crm_core.audit import chain, verify
from crm_core.audit.models import AuditEntry
from crm_core.events import emitter
from crm_core.events.models import OutboxEvent
from crm_core.testing import follow_task

ROWS = "姓名,手机\n" + "".join(f"导入{i},1380013{i:04d}\n" for i in range(7))


def test_an_import_writes_its_audit_entries_and_events_in_one_insert_each(
    app, client, admin_headers, monkeypatch
):
    inserts = []

    def counting(real):
        def insert_rows(model, fields, rows, **kwargs):
            inserts.append((model._meta.table_name, len(rows)))
            return real(model, fields, rows, **kwargs)

        return insert_rows

    monkeypatch.setattr(chain, "insert_rows", counting(chain.insert_rows))
    monkeypatch.setattr(emitter, "insert_rows", counting(emitter.insert_rows))
    form = {"file": (io.BytesIO(ROWS.encode()), "c.csv")}
    r = client.post(
        "/api/v1/customers/import", data=form, headers=admin_headers, content_type="multipart/form-data"
    )
    report = follow_task(client, r, admin_headers)
    assert report.status_code == 200 and report.get_json()["imported"] == 7, report.get_json()
    assert sorted(inserts) == [("audit_entry", 7), ("event_outbox", 7)]
    with app.app_context():
        entries = list(
            AuditEntry.select().where(AuditEntry.resource == "customers", AuditEntry.action == "create")
        )
        events = OutboxEvent.select().where(OutboxEvent.type == "customer.created").count()
        assert len(entries) == 7 and len({e.record_id for e in entries}) == 7 and events == 7
        assert sorted(e.seq for e in entries) == list(range(entries[0].seq, entries[0].seq + 7))
        assert verify().ok
