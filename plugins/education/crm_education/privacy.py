"""Privacy: export and erasure of what the school stores about a student or lead.

Erasure deletes what describes the person in free text (follow-up notes, trial feedback and
wishes) and their trial bookings and enrolments' notes; it keeps the packages, the hours ledger
and roll call, which are the school's record of prepaid fees and of the teaching that released
them (regulators require hour-by-hour fee release), pointing only at the anonymised customer row.
"""

from __future__ import annotations

from crm_core.plugin_api import utcnow

from . import hours
from .models import Attendance, Enrolment, FollowUp, HourEntry, Package, Trial
from .schemas import (
    EducationEnrolmentSchema,
    EducationEntrySchema,
    EducationFollowUpSchema,
    EducationPackageSchema,
    EducationTrialSchema,
)


def _customer_id(customer) -> int:
    return int(getattr(customer, "id", customer))


def export_customer(customer) -> dict | None:
    """Enrolments, packages with their ledgers, roll call, trials and follow-ups (None: nothing)."""
    cid = _customer_id(customer)
    packages = list(Package.select().where(Package.customer_id == cid).order_by(Package.id))
    left = hours.balances(p.id for p in packages)
    for p in packages:
        p.balance = left[p.id]
    data = {
        "enrolments": EducationEnrolmentSchema(many=True).dump(
            list(Enrolment.select().where(Enrolment.customer_id == cid).order_by(Enrolment.id))
        ),
        "packages": EducationPackageSchema(many=True).dump(packages),
        "hours": EducationEntrySchema(many=True).dump(
            list(
                HourEntry.select()
                .where(HourEntry.package.in_([p.id for p in packages]))
                .order_by(HourEntry.id)
            )
        )
        if packages
        else [],
        "attendance": [
            {"session_id": a.session_id, "status": a.status, "at": a.at.isoformat() + "Z"}
            for a in Attendance.select().where(Attendance.customer_id == cid).order_by(Attendance.id)
        ],
        "trials": EducationTrialSchema(many=True).dump(
            list(Trial.select().where(Trial.customer_id == cid).order_by(Trial.id))
        ),
        "followups": EducationFollowUpSchema(many=True).dump(
            list(FollowUp.select().where(FollowUp.customer_id == cid).order_by(FollowUp.id))
        ),
    }
    return data if any(data.values()) else None


def erase_customer(customer) -> None:
    """Delete the follow-ups, blank the trials' feedback and wishes (the fee records stay)."""
    cid = _customer_id(customer)
    FollowUp.delete().where(FollowUp.customer_id == cid).execute()
    Trial.update(feedback="", preferred="", updated_at=utcnow()).where(Trial.customer_id == cid).execute()
