"""crm-medical: clinics on crm-core (诊所, 医美).

Patients are the core's customers with the plugin's fields (resident ID number checked with its
MOD 11-2 check character, encrypted with a blind index; allergies, emergency contact,
insurance). Medical records keep their clinical texts encrypted and are read only inside their
treating department, or by a clinician who breaks the glass with a reason (time-boxed, audited
as a FHIR AuditEvent, notified, reviewed). Every read of clinical data is one audit entry.
Appointments never double-book a doctor. It never imports another plugin.
"""

from .hooks import (  # noqa: F401  pluggy collects the hook implementations from this module
    crm_actions,
    crm_blueprints,
    crm_entities,
    crm_erase_customer,
    crm_export_customer,
    crm_jobs,
    crm_message_allowed,
    crm_migrations,
    crm_models,
    crm_nav,
    crm_permission_check,
    crm_permission_filter,
    crm_permissions,
    crm_record_written,
    crm_retention_policies,
    crm_settings,
    crm_translations,
    crm_web_blueprints,
    requires,
)

__version__ = "0.1.0"
