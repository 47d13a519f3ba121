"""The education plugin's hook implementations (registered through the ``crm_core`` entry point)."""

from __future__ import annotations

from pathlib import Path

from crm_core import hookimpl

from . import access, jobs, privacy
from .models import MODELS
from .settings import SETTINGS
from .template import TEMPLATE

# the tables this plugin's views and jobs rely on: grants, the write path, the outbox, and the
# customers that leads and students are
requires = ("core.auth", "core.permissions", "core.records", "core.events", "core.entities")


@hookimpl
def crm_models():
    """The education_* tables."""
    return MODELS


@hookimpl
def crm_migrations():
    """The plugin's own migration history (``crm_migrations_education``)."""
    return str(Path(__file__).parent / "migrations")


@hookimpl
def crm_settings():
    """``EDUCATION_*``: time zone, negative hours, reminder thresholds, pool days, teacher role."""
    return SETTINGS


@hookimpl
def crm_entities():
    """The student fields on customers (guardian, grade, school, learning goals)."""
    return [TEMPLATE]


@hookimpl
def crm_blueprints():
    """The API under /api/v1/education."""
    # lazy: the views import flask-smorest machinery only an app needs
    from . import api_leads, api_students  # noqa: F401  they mount their routes on api.blp
    from .api import blp

    return [blp]


def _perm(resource, actions, label):
    return {"resource": resource, "actions": actions, "label": label}


@hookimpl
def crm_permissions():
    """Resources and actions roles can be granted (labels in the user's language)."""
    from flask_babel import lazy_gettext as _l  # lazy: babel is set up with the app

    crud = ["read", "create", "update", "delete"]
    return [
        _perm("education.courses", crud, _l("Courses")),
        _perm("education.rooms", crud, _l("Rooms")),
        _perm("education.holidays", crud, _l("School holidays")),
        _perm("education.classes", crud, _l("Classes")),
        _perm("education.sessions", [*crud, "roll_call"], _l("Class sessions and roll call")),
        _perm("education.enrolments", ["read", "create", "withdraw"], _l("Enrolments")),
        _perm("education.packages", ["read", "create", "update"], _l("Lesson packages")),
        _perm("education.hours", ["read", "transfer", "refund"], _l("Lesson hours ledger")),
        _perm(
            "education.trials",
            ["read", "create", "schedule", "attend", "feedback", "convert", "revoke"],
            _l("Trial lessons"),
        ),
        _perm("education.followups", ["read", "create", "update"], _l("Follow-ups")),
        _perm("education.waitlist", ["read", "create", "accept", "decline"], _l("Waiting lists")),
        _perm("education.pool", ["read", "claim"], _l("Shared lead pool")),
        _perm("education.metrics", ["read"], _l("School metrics")),
    ]


@hookimpl
def crm_permission_filter(actor, model):
    """A teacher (holding only the teacher role) sees only their classes' students; a consultant
    (holding only the consultant role) only their own customers and the shared pool's."""
    return access.teacher_filter(actor, model) or access.consultant_filter(actor, model)


@hookimpl
def crm_jobs():
    """Hours reminders (``hours.low``) and the shared pool's return of stale leads."""
    return jobs.JOBS


@hookimpl
def crm_web_blueprints():
    """The workbench screens under /education: timetable, roster with roll call, student hours,
    trial bookings, the follow-up queue with the shared pool, the funnel and metrics charts."""
    from . import web_followups, web_metrics, web_trials  # noqa: F401  they mount their pages on web.blp
    from .web import blp  # lazy: the pages need an app only a running workbench has

    return [blp]


@hookimpl
def crm_nav():
    """The menu entries: timetable, trial lessons, follow-ups, school metrics."""
    from .web import NAV  # lazy, like the blueprint

    return NAV


@hookimpl
def crm_translations():
    """The plugin's own catalogue (messages and permission labels in Chinese)."""
    return [str(Path(__file__).parent / "translations")]


@hookimpl
def crm_export_customer(customer):
    """Everything the school stores about the student or lead."""
    return privacy.export_customer(customer)


@hookimpl
def crm_erase_customer(customer):
    """Delete follow-up notes and trial feedback; the fee records stay (see :mod:`privacy`)."""
    privacy.erase_customer(customer)


@hookimpl
def crm_demo_data(context):
    """A small school: courses, rooms, classes with a term of sessions, students with packages and
    roll call, and leads in every funnel stage (follow-ups, trials, the pool, a waiting list)."""
    from .demo import add_demo_data  # lazy: only `crm demo-data` needs it

    add_demo_data(context)
