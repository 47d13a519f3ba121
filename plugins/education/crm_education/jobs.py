"""Scheduled jobs: lesson-hour reminders and the shared pool (ids ``education:<job>``)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from flask_babel import gettext as _

from crm_core.plugin_api import Customer, emit, utcnow, write_transaction

from . import followups, hours, messages, settings, waitlist
from .models import FollowUp, Package, Session, Trial


def _local(instant: dt.datetime) -> str:
    return instant.replace(tzinfo=dt.UTC).astimezone(settings.timezone()).strftime("%Y-%m-%d %H:%M")


def _hours_text(package: Package, reason: str, left: Decimal) -> tuple[Customer, str]:
    student = Customer.get_by_id(package.customer_id)
    values = {"name": student.name, "course": package.course.name, "hours": left}
    if reason == "expiring":
        text = _(
            "%(name)s's %(course)s package expires on %(day)s with %(hours)s lesson hours left.",
            day=package.valid_until.isoformat(),
            **values,
        )
    else:
        text = _("%(name)s has %(hours)s lesson hours left for %(course)s: time to renew.", **values)
    return student, text


def _hours_low(package: Package, reason: str, left: Decimal, actor) -> None:
    student, text = _hours_text(package, reason, left)
    delivery = messages.remind(student, text, f"education:hours-{reason}:{package.id}", actor)
    emit(
        "hours.low",
        {
            "package_id": package.id,
            "customer_id": package.customer_id,
            "course_id": package.course_id,
            "reason": reason,
            "balance": left,
            "valid_until": package.valid_until,
            "delivery_id": delivery,
            "owner_id": package.owner_id,
            "department_id": package.department_id,
        },
        actor=actor,
        resource="education.packages",
    )


def remind_hours(ctx) -> dict:
    """hours.low for packages at or below EDUCATION_LOW_HOURS hours, or expiring within
    EDUCATION_EXPIRY_DAYS days (each once per package and reason)."""
    low_limit = Decimal(settings.get("LOW_HOURS"))
    horizon = (ctx.now + dt.timedelta(days=settings.get("EXPIRY_DAYS"))).date()
    active = list(Package.select().where(Package.status == "active"))
    balances = hours.balances(p.id for p in active)
    low, expiring = [], []
    for package in active:
        with write_transaction():  # the event and the mark that it was sent commit together
            _remind(package, balances[package.id], low_limit, horizon, ctx, low, expiring)
    return {"low_balance": low, "expiring": expiring}


def _remind(package, left, low_limit, horizon, ctx, low, expiring):
    if package.low_notified_at is None and left <= low_limit:
        _hours_low(package, "low_balance", left, ctx.actor)
        Package.update(low_notified_at=utcnow()).where(Package.id == package.id).execute()
        low.append(package.id)
    expires = package.valid_until
    if (
        package.expiry_notified_at is None
        and expires is not None
        and ctx.now.date() <= expires <= horizon
        and left > 0
    ):
        _hours_low(package, "expiring", left, ctx.actor)
        Package.update(expiry_notified_at=utcnow()).where(Package.id == package.id).execute()
        expiring.append(package.id)


def remind_followups(ctx) -> dict:
    """followup.due for each lead whose latest follow-up's next contact has come (once each)."""
    due = list(followups.due_contacts(ctx.now).where(FollowUp.reminded_at.is_null()))
    for note in due:
        with write_transaction():
            emit(
                "followup.due",
                {
                    "followup_id": note.id,
                    "customer_id": note.customer_id,
                    "next_contact_at": note.next_contact_at,
                    "owner_id": note.owner_id,
                    "department_id": note.department_id,
                },
                actor=ctx.actor,
                resource="education.followups",
            )
            FollowUp.update(reminded_at=utcnow()).where(FollowUp.id == note.id).execute()
    return {"reminded": [n.id for n in due]}


def flag_unconfirmed(ctx) -> dict:
    """session.unconfirmed (异常课表) for sessions ended over an hour ago without roll call."""
    cutoff = ctx.now - dt.timedelta(hours=1)
    stale = list(
        Session.select().where(
            Session.status == "scheduled", Session.ends_at < cutoff, Session.flagged_at.is_null()
        )
    )
    for session in stale:
        with write_transaction():
            emit(
                "session.unconfirmed",
                {
                    "session_id": session.id,
                    "class_id": session.class_id,
                    "teacher_id": session.teacher_id,
                    "ends_at": session.ends_at,
                    "department_id": session.department_id,
                },
                actor=ctx.actor,
                resource="education.sessions",
            )
            Session.update(flagged_at=utcnow()).where(Session.id == session.id).execute()
    return {"flagged": [s.id for s in stale]}


def remind_trials(ctx) -> dict:
    """trial.reminder for booked trials whose session starts within the next 24 hours (once each)."""
    soon = (
        Trial.select(Trial, Session)
        .join(Session)
        .where(
            Trial.status == "booked",
            Trial.reminded_at.is_null(),
            Session.status == "scheduled",
            Session.starts_at > ctx.now,
            Session.starts_at <= ctx.now + dt.timedelta(hours=24),
        )
    )
    sent = []
    for trial in soon:
        with write_transaction():
            student = Customer.get_by_id(trial.customer_id)
            text = _(
                "Reminder: %(name)s's trial lesson starts at %(time)s.",
                name=student.name,
                time=_local(trial.session.starts_at),
            )
            delivery = messages.remind(student, text, f"education:trial-reminder:{trial.id}", ctx.actor)
            emit(
                "trial.reminder",
                {
                    "trial_id": trial.id,
                    "customer_id": trial.customer_id,
                    "session_id": trial.session_id,
                    "starts_at": trial.session.starts_at,
                    "delivery_id": delivery,
                    "owner_id": trial.owner_id,
                    "department_id": trial.department_id,
                },
                actor=ctx.actor,
                resource="education.trials",
            )
            Trial.update(reminded_at=utcnow()).where(Trial.id == trial.id).execute()
        sent.append(trial.id)
    return {"reminded": sent}


#: the jobs as ``crm_jobs`` returns them; each ``description`` is a dict literal's value so the
#: catalogue extractor finds it and /admin/jobs shows it translated (a docstring's first line is
#: neither extracted nor, wrapped, a whole sentence)
JOBS = [
    {
        "id": "education:remind_hours",
        "func": remind_hours,
        "trigger": "cron",
        "hour": 1,
        "minute": 0,
        "description": "Remind of packages with few lesson hours left or about to expire",
    },
    {
        "id": "education:return_to_pool",
        "func": followups.return_to_pool,
        "trigger": "cron",
        "hour": 2,
        "minute": 0,
        "description": "Return leads not followed up for EDUCATION_POOL_DAYS days to the shared pool",
    },
    {
        "id": "education:remind_followups",
        "func": remind_followups,
        "trigger": "interval",
        "minutes": 15,
        "description": "Remind consultants of the follow-ups that are due",
    },
    {
        "id": "education:flag_unconfirmed",
        "func": flag_unconfirmed,
        "trigger": "cron",
        "hour": 3,
        "minute": 0,
        "description": "Flag sessions that ended over an hour ago without roll call",
    },
    {
        "id": "education:remind_trials",
        "func": remind_trials,
        "trigger": "interval",
        "minutes": 30,
        "description": "Remind students of trial lessons starting within 24 hours",
    },
    {
        "id": "education:expire_offers",
        "func": waitlist.expire_offers,
        "trigger": "interval",
        "minutes": 30,
        "description": "Expire waiting-list offers not taken up in time; the seat passes on",
    },
]
