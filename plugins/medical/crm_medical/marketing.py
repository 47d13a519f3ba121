"""Marketing to patients: only with their marketing consent, asked at the moment of sending.

Medical data is sensitive personal information (PIPL Art. 28-29): a clinic's promotion needs the
patient's own, separate marketing consent, which consent to treatment is not. The core has no
messaging channel of its own; a clinic's SMS or WeChat gateway subscribes (a webhook or a
plugin's ``crm_event``) to ``medical.marketing.requested``, which only this automation action
emits, and only after ``has_consent(patient, "marketing")``. Without it the action fails with
422, which the automation engine reports and never retries. The event names the patient and the
message template, never anything clinical.
"""

from __future__ import annotations

from flask_babel import gettext as _
from marshmallow import Schema, fields, validate

from crm_core.plugin_api import APIError, Customer, acting_actor, emit, has_consent

CHANNELS = ("sms", "wechat", "email")


class MedicalMarketingParams(Schema):
    """Which message template to send, on which channel."""

    template = fields.String(required=True, validate=validate.Regexp(r"^[a-z0-9_.-]{1,64}$"))
    channel = fields.String(load_default="sms", validate=validate.OneOf(CHANNELS))


def send_marketing(params, event, customer) -> dict:
    """The ``medical.send_marketing`` action: request a marketing message to the patient, or
    refuse (422) when they have not given marketing consent."""
    if customer is None:
        raise APIError(422, _("A marketing message needs the patient the event is about."))
    if not has_consent(customer, "marketing"):
        raise APIError(
            422,
            _("Patient %(id)s has not consented to marketing: no message is sent.", id=customer.id),
        )
    sent = emit(
        "medical.marketing.requested",
        {
            "customer_id": customer.id,
            "owner_id": customer.owner_id,
            "department_id": customer.department_id,
            "template": params["template"],
            "channel": params["channel"],
            "cause": getattr(event, "id", None),
        },
        acting_actor(),
        resource="customers",
        customer_id=customer.id,
    )
    return {"event_id": sent.id}


def message_allowed(customer_id, purpose: str, channel: str):
    """``crm_message_allowed``: a marketing message (``send_message(..., purpose="marketing")``,
    on any channel) to a patient without their marketing consent is refused; anything else is
    left to the others. The core's messaging refuses it too; the clinic's rule does not depend
    on that default."""
    if purpose != "marketing" or customer_id is None:
        return None
    customer = Customer.get_or_none(Customer.id == customer_id)
    if customer is None:
        return None
    return None if has_consent(customer, "marketing") else False


ACTIONS = [
    {
        "name": "medical.send_marketing",
        "label": "Send a marketing message to the patient (only with marketing consent)",
        "schema": MedicalMarketingParams,
        "run": send_marketing,
    }
]
