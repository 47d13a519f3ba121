"""Redaction of the audit log (issue 18): a person's values leave the before/after images and the
chain still verifies; editing a redacted entry, or forging a marker, is still detected; entries
sealed before version 2 are vouched for by the ``redact`` anchor."""

from __future__ import annotations

import json

from audit_tampering import tampering

from crm_core.audit import redact, verify
from crm_core.audit.chain import audit_key, entry_hash, head_mac
from crm_core.audit.models import AuditEntry, AuditHead
from crm_core.testing import run_cli

PHONE, EMAIL = "+8613912345678", "redact.me@example.com"


def _texts() -> str:
    return " ".join(f"{e.before or ''} {e.after or ''}" for e in AuditEntry.select())


def _person(client, headers) -> dict:
    customer = client.post(
        "/api/v1/customers",
        json={"name": "Zelda Redactable", "phone": PHONE, "email": EMAIL},
        headers=headers,
    ).get_json()
    client.patch(f"/api/v1/customers/{customer['id']}", json={"name": "Zelda R. Redactable"}, headers=headers)
    client.post("/api/v1/customers", json={"name": "Other Person"}, headers=headers)
    return customer


def test_values_are_redacted_and_the_chain_still_verifies(app, client, admin_headers):
    customer = _person(client, admin_headers)
    assert PHONE in _texts() and verify().ok
    changed = redact({PHONE, "zelda"})
    assert changed >= 2  # the create and the update
    texts = _texts()
    assert PHONE not in texts and "Zelda" not in texts and "Other Person" in texts
    assert EMAIL in texts  # only what was asked
    result = verify()
    assert result.ok, result.describe()
    created = AuditEntry.get(
        AuditEntry.resource == "customers",
        AuditEntry.record_id == str(customer["id"]),
        AuditEntry.action == "create",
    )
    assert json.loads(created.after)["phone"] == {
        "$redacted": json.loads(created.after)["phone"]["$redacted"]
    }
    anchor = AuditEntry.get(AuditEntry.action == "redact")
    info = json.loads(anchor.after)
    assert anchor.kind == "anchor" and info["count"] == changed and created.seq in info["seqs"]
    assert PHONE not in anchor.after and info["vouch"] == {}  # version-2 entries keep their hash


def test_fields_of_the_record_itself_are_redacted_whole(app, client, admin_headers):
    customer = _person(client, admin_headers)
    changed = redact(resource="customers", record_id=customer["id"], fields={"name", "phone", "email"})
    assert changed >= 2
    texts = _texts()
    assert "Zelda" not in texts and EMAIL not in texts and "Other Person" in texts
    assert verify().ok
    assert run_cli(app, "audit", "verify").exit_code == 0


def test_a_redacted_entry_is_still_protected(app, client, admin_headers):
    _person(client, admin_headers)
    redact({PHONE})
    target = AuditEntry.select().where(AuditEntry.after.contains("$redacted")).first()
    after = json.loads(target.after)
    # a forged marker (another digest) and an edit beside the marker are both detected
    forged = {**after, "phone": {"$redacted": "0" * 64}}
    with tampering():
        AuditEntry.update(after=json.dumps(forged)).where(AuditEntry.id == target.id).execute()
    result = verify()
    assert not result.ok and result.bad_id == target.id
    with tampering():
        AuditEntry.update(after=json.dumps({**after, "lifecycle_stage": "vip"})).where(
            AuditEntry.id == target.id
        ).execute()
    assert verify().bad_id == target.id
    with tampering():
        AuditEntry.update(after=target.after).where(AuditEntry.id == target.id).execute()
    assert verify().ok


def test_redaction_outside_the_door_is_refused(app, client, admin_headers):
    import peewee as pw
    import pytest

    from crm_core.db import database

    _person(client, admin_headers)
    target = AuditEntry.select().where(AuditEntry.after.contains(PHONE)).first()
    with pytest.raises(pw.DatabaseError), database.atomic():
        AuditEntry.update(after="{}").where(AuditEntry.id == target.id).execute()


def _make_version_1():
    """Turn the log into what an install before version 2 has: every entry hashed over its
    stored texts (``hash_version`` NULL), re-chained with the instance's key, head re-MACed."""
    key = audit_key()[0]
    prev = ""
    rows = list(AuditEntry.select().where(AuditEntry.seq.is_null(False)).order_by(AuditEntry.seq))
    with tampering():
        for row in rows:
            row.hash_version = None
            digest = entry_hash(row, row.seq, prev, key)
            AuditEntry.update(hash_version=None, prev_hash=prev, hash=digest).where(
                AuditEntry.id == row.id
            ).execute()
            prev = digest
    AuditHead.update(hash=prev, mac=head_mac(key, rows[-1].seq, prev)).where(AuditHead.id == 1).execute()


def test_version_1_entries_are_vouched_for_by_the_anchor(app, client, admin_headers):
    customer = _person(client, admin_headers)
    _make_version_1()
    assert verify().ok  # old chains still verify
    assert redact({PHONE}) >= 1
    assert PHONE not in _texts()
    anchor = AuditEntry.get(AuditEntry.action == "redact")
    assert json.loads(anchor.after)["vouch"]
    assert verify().ok, verify().describe()
    # the vouched-for entry is still protected: an edit of its redacted content is found
    target = AuditEntry.get(
        AuditEntry.resource == "customers",
        AuditEntry.record_id == str(customer["id"]),
        AuditEntry.action == "create",
    )
    with tampering():
        AuditEntry.update(after=target.after.replace("Zelda", "Xena")).where(
            AuditEntry.id == target.id
        ).execute()
    assert verify().bad_id == target.id
    # new entries are version 2 again
    client.post("/api/v1/customers", json={"name": "After Upgrade"}, headers=admin_headers)
    assert AuditEntry.select().order_by(AuditEntry.seq.desc()).first().hash_version == 2


def test_short_values_are_ignored_and_nothing_to_do_appends_nothing(app, client, admin_headers):
    _person(client, admin_headers)
    assert redact({"ab", "", "no such value anywhere"}) == 0
    assert not AuditEntry.select().where(AuditEntry.action == "redact").exists()


def test_a_rolled_back_redaction_leaves_the_log_and_its_protection(app, client, admin_headers):
    import peewee as pw
    import pytest

    from crm_core.db import database

    _person(client, admin_headers)
    with pytest.raises(RuntimeError), database.atomic():
        assert redact({PHONE}) >= 1
        raise RuntimeError("the erasure failed later")
    assert PHONE in _texts() and verify().ok
    assert not AuditEntry.select().where(AuditEntry.action == "redact").exists()
    target = AuditEntry.select().where(AuditEntry.after.contains(PHONE)).first()
    with pytest.raises(pw.DatabaseError), database.atomic():
        AuditEntry.update(after="{}").where(AuditEntry.id == target.id).execute()
