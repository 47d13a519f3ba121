"""Patients are the core's customers with the plugin's fields (:mod:`crm_medical.templates`).

Checks that a field definition cannot say: the resident ID number's birth date and MOD 11-2
check character, on every write of a customer (``crm_record_written``: raising there rolls the
write back, so a mistyped number is never stored, whichever path wrote it).
"""

from __future__ import annotations

from flask_babel import gettext as _

from crm_core.plugin_api import APIError, has_consent, open_value

from . import identity

ID_FIELD = "resident_id_number"


def _token(image: dict | None):
    return ((image or {}).get("custom") or {}).get(ID_FIELD)


def check_written(change) -> None:
    """Refuse (422, per field) a customer write whose resident ID number is not a valid one."""
    if change.resource != "customers" or change.action == "delete":
        return
    token = _token(change.after)
    if token is None or token == _token(change.before):
        return
    # the value is sealed by now (encrypted fields are sealed before the hook runs): open it in
    # memory only, under the context the core sealed it with
    value = open_value(token, f"customers/{change.record_id}/{ID_FIELD}")
    problems = identity.problems(value)
    if problems:
        raise APIError(
            422,
            _("Invalid resident ID number."),
            errors={f"custom.{ID_FIELD}": problems},
        )


def require_treatment_consent(customer, enabled: bool) -> None:
    """Refuse (422) a medical record for a patient without a given treatment consent, when the
    clinic requires one (``MEDICAL_REQUIRE_TREATMENT_CONSENT``)."""
    if enabled and not has_consent(customer, "treatment"):
        raise APIError(
            422,
            _("The patient has not given consent to treatment: record it first."),
            errors={"customer_id": [_("No consent to treatment on record.")]},
        )
