"""Marketing to a patient goes out only with their marketing consent: the automation action
refuses otherwise, without retrying (SQLite and PostgreSQL)."""

from __future__ import annotations

from medical_testlib import give_consent, register_patient

from crm_core.plugin_api import database, emit
from crm_core.testing import deliver_events

RULE = {
    "name": "spring check-up campaign",
    "trigger": "clinic.campaign",
    "actions": [
        {"type": "medical.send_marketing", "params": {"template": "spring-checkup", "channel": "sms"}}
    ],
}


def test_marketing_needs_marketing_consent_not_treatment_consent(client, admin_headers):
    rule = client.post("/api/v1/automations", json=RULE, headers=admin_headers)
    assert rule.status_code == 201, rule.get_json()
    rule_id = rule.get_json()["id"]
    treated_only = register_patient(client, admin_headers)  # treatment consent only
    willing = register_patient(client, admin_headers, name="李四", id_number="440524188001010014")
    give_consent(client, admin_headers, willing, "marketing")
    withdrawn = register_patient(client, admin_headers, name="王五", id_number="110101199003070038")
    give_consent(client, admin_headers, withdrawn, "marketing")
    give_consent(client, admin_headers, withdrawn, "marketing", status="withdrawn")
    with database.atomic():
        for patient in (treated_only, willing, withdrawn):
            emit("clinic.campaign", {"customer_id": patient})
    deliver_events()
    runs = client.get(f"/api/v1/automations/{rule_id}/runs?page_size=50", headers=admin_headers).get_json()
    by_status = sorted((r["status"], r.get("attempts")) for r in runs)
    assert [s for s, _ in by_status] == ["failed", "failed", "succeeded"], runs
    failed = [r for r in runs if r["status"] == "failed"]
    assert all(r["attempts"] == 1 and "not consented to marketing" in r["error"] for r in failed)
    deliver_events()
    sent = client.get("/api/v1/events?type=medical.marketing.requested", headers=admin_headers).get_json()
    sent = [e for e in sent if e["type"] == "medical.marketing.requested"]
    assert [e["data"]["customer_id"] for e in sent] == [willing]
    assert sent[0]["data"]["template"] == "spring-checkup"
