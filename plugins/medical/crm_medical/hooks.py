"""The medical plugin's hook implementations (registered through the ``crm_core`` entry point)."""

from __future__ import annotations

from pathlib import Path

from crm_core import hookimpl
from crm_core.plugin_api import Setting

from . import breakglass, isolation, marketing, patients, privacy, retention
from .models import MODELS
from .templates import TEMPLATES

# grants, the write path, the outbox, the audit log, custom fields and the customers that
# records, appointments and grants refer to (foreign keys: the customer table comes first)
requires = ("core.auth", "core.permissions", "core.records", "core.events", "core.entities")


@hookimpl
def crm_settings():
    """Department tree reading, the break-glass window, retention periods, treatment consent."""
    return {
        "MEDICAL_DEPARTMENT_TREE": Setting(
            bool, False, "clinicians also read the records of the departments below their own"
        ),
        "MEDICAL_BREAK_GLASS_HOURS": Setting(int, 4, "hours a break-glass grant opens a patient's records"),
        "MEDICAL_BREAK_GLASS_REAUTH_MINUTES": Setting(
            int,
            0,
            "minutes after a clinician typed their password for a break-glass during which the next "
            "one does not ask again (0: every time)",
        ),
        "MEDICAL_OUTPATIENT_RETENTION_DAYS": Setting(
            int,
            retention.OUTPATIENT_DAYS,
            "days outpatient records are kept after the last visit (law: 15 years)",
        ),
        "MEDICAL_INPATIENT_RETENTION_DAYS": Setting(
            int,
            retention.INPATIENT_DAYS,
            "days inpatient records are kept after the last discharge (law: 30 years)",
        ),
        "MEDICAL_REQUIRE_TREATMENT_CONSENT": Setting(
            bool, True, "a medical record needs the patient's consent to treatment on record"
        ),
    }


@hookimpl
def crm_models():
    """The medical_* tables."""
    return MODELS


@hookimpl
def crm_migrations():
    """The plugin's own migration history (``crm_migrations_medical``)."""
    return str(Path(__file__).parent / "migrations")


@hookimpl
def crm_entities():
    """The patient's fields on customers and the clinical fields of records (encrypted)."""
    return TEMPLATES


@hookimpl
def crm_blueprints():
    """The API under /api/v1/medical."""
    # why here: the API module mounts collections, which needs the app's extensions loaded
    from .api import blp

    return [blp]


@hookimpl
def crm_permissions():
    """Resources and actions roles can be granted (labels in the user's language)."""
    # why here: lazy labels need Flask-Babel, which the hook's caller has set up by then
    from flask_babel import lazy_gettext as _l

    return [
        {
            "resource": "medical.records",
            "actions": ["read", "create", "update", "export"],
            "label": _l("Medical records"),
        },
        {
            "resource": "medical.appointments",
            "actions": ["read", "create", "update", "delete"],
            "label": _l("Appointments"),
        },
        {
            "resource": "medical.break_glass",
            "actions": ["read", "create", "review"],
            "label": _l("Break-glass access"),
        },
    ]


@hookimpl
def crm_permission_filter(actor, action, model, resource):
    """Medical records are read only inside their treating department (or by break-glass)."""
    return isolation.permission_filter(actor, action, model, resource)


@hookimpl
def crm_permission_check(actor, action, resource, record):
    """Records are changed only in their department; nobody reviews their own break-glass."""
    votes = (
        isolation.permission_check(actor, action, resource, record),
        breakglass.permission_check(actor, action, resource, record),
    )
    return False if False in votes else None


@hookimpl
def crm_record_written(change):
    """A customer's resident ID number must pass its checksum (422 rolls the write back)."""
    patients.check_written(change)


@hookimpl
def crm_retention_policies():
    """Outpatient records 15 years after the last visit, inpatient 30 after the last discharge."""
    return retention.policies()


@hookimpl
def crm_jobs():
    """Audit the end of each expired break-glass ("Emergency Override Stopped")."""
    return [
        {
            "id": "medical:break_glass_stop",
            "func": breakglass.stop_expired,
            "trigger": "interval",
            "minutes": 5,
            "description": "Audit the end of expired break-glass grants",
        }
    ]


@hookimpl
def crm_export_customer(customer):
    """The patient's appointments and the records the exporting actor may read."""
    return privacy.export_patient(customer)


@hookimpl
def crm_erase_customer(customer):
    """Refuse while the law keeps the records (saying what and until when); else delete them."""
    retention.erase_patient(customer)


@hookimpl
def crm_web_blueprints():
    """The workbench screens under /medical (patient page, break-glass, review queue, the
    appointments calendar, a patient's read audit)."""
    # why here: the screens pull in Flask's templating and the API module, needed only by an app
    from . import web_audit, web_calendar  # noqa: F401  their routes register on the blueprint
    from .web import blp

    return [blp]


@hookimpl
def crm_nav():
    """The review queue's menu entry and the patient panel on the customer 360 page."""
    # why here: see crm_web_blueprints
    from .web import NAV

    return NAV


@hookimpl
def crm_actions():
    """``medical.send_marketing``: a marketing message, refused without marketing consent."""
    return marketing.ACTIONS


@hookimpl
def crm_message_allowed(customer_id, purpose, channel):
    """No marketing message to a patient without their marketing consent, on any channel."""
    return marketing.message_allowed(customer_id, purpose, channel)


@hookimpl
def crm_translations():
    """The plugin's own catalogue (its messages and labels in Chinese)."""
    return [str(Path(__file__).parent / "translations")]
