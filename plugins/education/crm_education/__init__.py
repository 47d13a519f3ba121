"""crm-education: a training school (教培) on crm-core.

Courses, rooms, classes and sessions whose timetable never clashes (teacher, room, student; the
half-open interval rule, under locks), lesson packages (课时包) with a signed hours ledger that
roll call (点名) alone consumes, trial lessons (试听) from booking to enrolment, follow-ups (跟进记录)
with the shared pool (公海), and the funnel. Leads and students are the core's customers;
consultants are their owners, campuses are departments. Installed on its own next to crm-core;
it talks to other plugins only through events (``trial.booked``, ``lesson.attended``...).
"""

from .hooks import (  # noqa: F401  pluggy collects the hook implementations from this module
    crm_blueprints,
    crm_demo_data,
    crm_entities,
    crm_erase_customer,
    crm_export_customer,
    crm_jobs,
    crm_migrations,
    crm_models,
    crm_nav,
    crm_permission_filter,
    crm_permissions,
    crm_settings,
    crm_translations,
    crm_web_blueprints,
    requires,
)

__version__ = "0.1.0"
