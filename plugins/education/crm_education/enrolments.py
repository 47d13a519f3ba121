"""Enrolment of a student in a class: capacity and the student's timetable checked under locks.

The checks run in the write path's ``before_save`` (inside its transaction, after the class and
the student are locked), so two front desks enrolling the last seat at once cannot both win: the
second waits for the first, then counts its enrolment and gets the 409.
"""

from __future__ import annotations

from flask_babel import gettext as _

from crm_core.plugin_api import APIError, Customer, create_record, emit, utcnow

from . import scheduling
from .models import Enrolment, Klass

RESOURCE = "education.enrolments"


def check_enrolment(record: Enrolment, data: dict, before: dict | None) -> None:
    """Before an enrolment is inserted: the class has a seat
    (active enrolments below min(class cap, room seats)) and none of its coming sessions clashes
    with the student's timetable; 409 naming what is full or clashes."""
    klass = Klass.get_or_none(Klass.id == record.class_id)
    if klass is None:
        raise APIError(422, _("No such class."), errors={"class_id": [_("Unknown class.")]})
    scheduling.lock(("class", klass.id), ("student", record.customer_id))
    taken = Enrolment.get_or_none(Enrolment.klass == klass.id, Enrolment.customer_id == record.customer_id)
    if taken is not None:
        raise APIError(
            409, _("The student is already in this class."), errors={"customer_id": [_("Already enrolled.")]}
        )
    cap = scheduling.capacity_of(klass)
    if scheduling.seats_taken(klass) >= cap:
        raise APIError(
            409, _("The class is full (%(cap)s seats).", cap=cap), errors={"class_id": [_("Full.")]}
        )
    found = scheduling.student_clashes(record.customer_id, scheduling.future_sessions(klass.id, utcnow()))
    if found:
        raise scheduling.clash_error(found)
    if record.department_id is None:
        record.department_id = klass.department_id


def announce(record: Enrolment, data: dict, before: dict | None) -> None:
    """``enrolment.created`` in the enrolment's transaction."""
    emit(
        "enrolment.created",
        {
            "enrolment_id": record.id,
            "customer_id": record.customer_id,
            "class_id": record.class_id,
            "trial_id": record.trial,
            "owner_id": record.owner_id,
            "department_id": record.department_id,
        },
        resource=RESOURCE,
    )


def enrol(customer_id: int, class_id: int, actor, trial_id: int | None = None, **extra) -> Enrolment:
    """Enrol a student through the write path (permission ``education.enrolments:create``)."""
    data = {"customer_id": customer_id, "class_id": class_id, "trial": trial_id, **extra}
    return create_record(RESOURCE, Enrolment, data, actor, before_save=check_enrolment, after_save=announce)


def campus_of_student(record, data: dict, before: dict | None) -> None:
    """A new record without a campus (created by someone outside any department) is placed at
    the student's campus, so the campus's managers see it."""
    if before is None and record.department_id is None:
        record.department_id = (
            Customer.select(Customer.department_id).where(Customer.id == record.customer_id).scalar()
        )
