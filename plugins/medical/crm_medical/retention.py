"""How long medical records are kept, and what an erasure request must leave in place.

电子病历应用管理规范(试行) (国卫办医发〔2017〕8号) and 医疗机构管理条例实施细则 第五十三条:
outpatient records at least 15 years from the patient's last outpatient visit, inpatient
records at least 30 years from the last discharge. The periods are settings
(``MEDICAL_OUTPATIENT_RETENTION_DAYS``, ``MEDICAL_INPATIENT_RETENTION_DAYS``) that may be
lengthened, never shortened below the law (``min_days``). The clock runs from the patient's
*last* visit of that kind, so the policies purge by patient (``purge``), not row by row: a
patient who came back last year keeps their visit of twenty years ago.
"""

from __future__ import annotations

import datetime as dt

import peewee as pw
from flask import current_app
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from crm_core.plugin_api import APIError, database, utcnow

from .models import Appointment, BreakGlass, MedicalRecord

OUTPATIENT_DAYS = 15 * 365 + 4  # 15 years, leap days included
INPATIENT_DAYS = 30 * 365 + 8
LAW = "电子病历应用管理规范(试行) / 医疗机构管理条例实施细则 第五十三条"
KINDS = {"outpatient": _l("outpatient"), "inpatient": _l("inpatient")}


def _moment(visit_type: str):
    """The column the retention clock of ``visit_type`` runs from (the discharge, for a stay)."""
    if visit_type == "inpatient":
        return pw.fn.COALESCE(MedicalRecord.discharged_at, MedicalRecord.visit_at)
    return MedicalRecord.visit_at


def _expired_patients(visit_type: str, cutoff: dt.datetime):
    """Patients whose last record of ``visit_type`` is older than ``cutoff``."""
    moment = _moment(visit_type)
    return (
        MedicalRecord.select(MedicalRecord.customer)
        .where(MedicalRecord.visit_type == visit_type)
        .group_by(MedicalRecord.customer)
        .having(pw.fn.MAX(moment) < cutoff)
    )


def _purger(visit_type: str):
    def purge(cutoff: dt.datetime) -> int:
        """Delete the ``visit_type`` records of every patient whose last such visit is older
        than ``cutoff``."""
        with database.atomic():
            patients = [row[0] for row in _expired_patients(visit_type, cutoff).tuples()]
            if not patients:
                return 0
            return (
                MedicalRecord.delete()
                .where(MedicalRecord.visit_type == visit_type, MedicalRecord.customer.in_(patients))
                .execute()
            )

    purge.__name__ = f"purge_{visit_type}"
    return purge


def policies() -> list[dict]:
    """``crm_retention_policies``: one policy per kind of record."""
    return [
        {
            "name": "medical.outpatient_records",
            "model": MedicalRecord,
            "field": MedicalRecord.visit_at,
            "where": MedicalRecord.visit_type == "outpatient",  # for the status's count of due rows
            "setting": "MEDICAL_OUTPATIENT_RETENTION_DAYS",
            "default_days": OUTPATIENT_DAYS,
            "min_days": OUTPATIENT_DAYS,
            "purge": _purger("outpatient"),
        },
        {
            "name": "medical.inpatient_records",
            "model": MedicalRecord,
            "field": MedicalRecord.visit_at,
            "where": MedicalRecord.visit_type == "inpatient",
            "setting": "MEDICAL_INPATIENT_RETENTION_DAYS",
            "default_days": INPATIENT_DAYS,
            "min_days": INPATIENT_DAYS,
            "purge": _purger("inpatient"),
        },
    ]


def kept_until(customer_id: int, now: dt.datetime | None = None) -> dict:
    """What the law keeps of a patient's records: ``{visit_type: {"records", "until"}}`` for
    each kind still inside its retention period."""
    now = now or utcnow()
    days = {
        "outpatient": int(current_app.config.get("MEDICAL_OUTPATIENT_RETENTION_DAYS") or OUTPATIENT_DAYS),
        "inpatient": int(current_app.config.get("MEDICAL_INPATIENT_RETENTION_DAYS") or INPATIENT_DAYS),
    }
    kept = {}
    for visit_type, period in days.items():
        moment = _moment(visit_type)
        row = (
            MedicalRecord.select(pw.fn.COUNT(MedicalRecord.id), pw.fn.MAX(moment))
            .where(MedicalRecord.customer == customer_id, MedicalRecord.visit_type == visit_type)
            .tuples()
            .first()
        )
        count, last = row if row else (0, None)
        if not count or last is None:
            continue
        if isinstance(last, str):  # SQLite hands MAX() of a datetime column back as text
            last = dt.datetime.fromisoformat(last)
        until = last + dt.timedelta(days=period)
        if until > now:
            kept[visit_type] = {"records": count, "until": until.date().isoformat()}
    return kept


def erase_patient(customer) -> None:
    """``crm_erase_customer``: refuse (409) while the law keeps the patient's records, saying
    what is kept and until when (nothing is erased: the erasure is one transaction); once every
    record is past its period, delete the records, appointments and break-glass grants."""
    kept = kept_until(customer.id)
    if kept:
        parts = [
            _("%(n)s %(kind)s record(s) until %(until)s", n=v["records"], kind=KINDS[k], until=v["until"])
            for k, v in sorted(kept.items())
        ]
        message = _(
            "Medical records must be kept by law (%(law)s): %(kept)s. Until then, restrict their processing to storage.",
            law=LAW,
            kept="; ".join(parts),
        )
        raise APIError(
            409,
            message,
            errors={"medical_records": parts},
            kept=kept,
        )
    MedicalRecord.delete().where(MedicalRecord.customer == customer.id).execute()
    Appointment.delete().where(Appointment.customer == customer.id).execute()
    BreakGlass.delete().where(BreakGlass.customer == customer.id).execute()
