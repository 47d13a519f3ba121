"""Marketing to a patient goes out only with their marketing consent: the automation action
refuses otherwise, without retrying, and the core's messaging asks the plugin's veto
(``crm_message_allowed``) (SQLite and PostgreSQL)."""

from __future__ import annotations

from medical_testlib import give_consent, register_patient

from crm_core import hookimpl
from crm_core.plugin_api import MessageChannel, SendResult, database, delivery_status, emit, send_message
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


class _Desk:
    """A channel of the clinic's own (a test SMS gateway) to send through the core's messaging."""

    @hookimpl
    def crm_message_channels(self):
        return [MessageChannel(name="clinic_sms", kinds=("text",), send=lambda r, m: SendResult(True, "ok"))]


def test_the_messaging_path_refuses_marketing_to_a_patient_without_consent(register_plugin, make_user):
    app = register_plugin(_Desk(), "clinic_desk")
    with app.app_context():
        _user, admin = make_user("marketing_admin")
        client = app.test_client()
        silent = register_patient(client, admin)
        willing = register_patient(client, admin, name="李四", id_number="440524188001010014")
        give_consent(client, admin, willing, "marketing")
        relay = app.extensions["crm"].plugins

        def veto(customer, purpose="marketing"):
            answers = relay.calls(
                "crm_message_allowed", customer_id=customer, purpose=purpose, channel="clinic_sms"
            )
            return dict(answers).get("medical")

        assert veto(silent) is False and veto(willing) is None and veto(silent, "reminder") is None
        refused = send_message(
            "clinic_sms", {"customer_id": silent}, {"text": "春季体检"}, purpose="marketing"
        )
        queued = send_message(
            "clinic_sms", {"customer_id": willing}, {"text": "春季体检"}, purpose="marketing"
        )
        reminder = send_message(
            "clinic_sms", {"customer_id": silent}, {"text": "明早9点复诊"}, purpose="reminder"
        )
        assert delivery_status(refused)["status"] == "refused"
        assert (
            delivery_status(queued)["status"] != "refused"
            and delivery_status(reminder)["status"] != "refused"
        )
