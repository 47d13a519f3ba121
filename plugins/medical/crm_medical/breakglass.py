"""Break-glass: a clinician opens a patient's records of another department, giving a reason.

Opening asks the clinician's password again (step-up, ``verify_password``: the login's lockout
applies), unless they typed it for a break-glass within ``MEDICAL_BREAK_GLASS_REAUTH_MINUTES``
(0, the default: every time); without it the answer is 403 naming the ``password`` field. It
then writes, in one transaction, per department whose records it opens:

- a ``medical_break_glass`` grant (the clinician, the patient, the department, the reason, and
  ``expires_at`` = now + ``MEDICAL_BREAK_GLASS_HOURS``): until it expires its clinician reads
  those records through the grant (:func:`opened_records`, ``GET /break-glass/<id>/records``),
  to read only (never to change or export them);
- its write audit entry (``record_written``) and a separate audit entry shaped like a FHIR
  AuditEvent "Emergency Override Started" (DCM 110113 / 110127, purposeOfEvent BTG plus the
  reason code): ``action`` ``break_glass`` on ``medical.break_glass``;
- the event ``medical.break_glass.opened`` (resource ``medical.break_glass``: the department's
  head reads it; webhooks and automations act on it) naming the heads to notify
  (``notify``: the users with the ``medical_department_head`` role in that department).

The grant stays in the department's review queue until its head marks it reviewed (justified or
not). When it expires the ``medical:break_glass_stop`` job audits "Emergency Override Stopped"
(DCM 110138). Every read made under a grant is audited with purpose ``BTG``
(:mod:`crm_medical.readaudit`).
"""

from __future__ import annotations

import datetime as dt

from flask import current_app, has_request_context, request
from flask_babel import gettext as _

from crm_core.plugin_api import (
    APIError,
    Customer,
    can,
    database,
    emit,
    record_dict,
    record_event,
    record_written,
    require,
    users_with_role,
    utcnow,
    verify_password,
    write_transaction,
)

from .isolation import in_area
from .models import BREAK_GLASS, RECORDS, BreakGlass, MedicalRecord, Reauth

DCM = "http://dicom.nema.org/resources/ontology/DCM"
ACT_REASON = "http://terminology.hl7.org/CodeSystem/v3-ActReason"
SOURCE_TYPE = "http://terminology.hl7.org/CodeSystem/security-source-type"
HEAD_ROLE = "medical_department_head"


def _iso(value: dt.datetime) -> str:
    return value.replace(microsecond=0).isoformat() + "Z"


def audit_event(actor, grant: BreakGlass, subtype: tuple[str, str]) -> dict:
    """The FHIR AuditEvent (R4) of one break-glass start or stop, as stored in the audit log."""
    ip = request.remote_addr if has_request_context() else None
    agent = {"who": {"reference": f"Practitioner/{grant.owner_id}"}, "requestor": True}
    if ip:
        agent["network"] = {"address": ip, "type": "2"}
    return {
        "resourceType": "AuditEvent",
        "type": {"system": DCM, "code": "110113", "display": "Security Alert"},
        "subtype": [{"system": DCM, "code": subtype[0], "display": subtype[1]}],
        "action": "E",
        "recorded": _iso(utcnow()),
        "period": {"start": _iso(grant.started_at), "end": _iso(grant.expires_at)},
        "outcome": "0",
        "purposeOfEvent": [
            {"coding": [{"system": ACT_REASON, "code": "BTG", "display": "break the glass"}]},
            {"coding": [{"system": ACT_REASON, "code": grant.reason_code}], "text": grant.reason},
        ],
        "agent": [agent],
        "source": {
            "observer": {"display": "crm-core medical"},
            "type": [{"system": SOURCE_TYPE, "code": "4", "display": "Application Server"}],
        },
        "entity": [
            {
                "what": {"reference": f"Patient/{grant.customer_id}"},
                "role": {"code": "1", "display": "Patient"},
            },
            {"what": {"reference": f"Organization/department-{grant.department_id}"}},
            {"what": {"reference": f"Consent/break-glass-{grant.id}"}},
        ],
    }


def heads_of(department_id: int) -> list[int]:
    """The active users holding the department-head role in ``department_id``."""
    return users_with_role(HEAD_ROLE, department_id)


def _departments(customer_id: int, actor, only: int | None) -> list[int]:
    """The treating departments of the patient's records that ``actor`` does not read normally."""
    query = MedicalRecord.select(MedicalRecord.department_id).where(
        MedicalRecord.customer == customer_id, MedicalRecord.department_id.is_null(False)
    )
    if only is not None:
        query = query.where(MedicalRecord.department_id == only)
    found = sorted({row[0] for row in query.distinct().tuples()})
    return [d for d in found if not in_area(actor, d)]


def recently_confirmed(actor, now=None) -> bool:
    """True when ``actor`` typed their password for a break-glass within
    ``MEDICAL_BREAK_GLASS_REAUTH_MINUTES`` (never when it is 0)."""
    minutes = int(current_app.config.get("MEDICAL_BREAK_GLASS_REAUTH_MINUTES") or 0)
    if minutes <= 0 or getattr(actor, "id", None) is None:
        return False
    since = (now or utcnow()) - dt.timedelta(minutes=minutes)
    return Reauth.select().where(Reauth.user_id == actor.id, Reauth.confirmed_at >= since).exists()


def reauthenticate(actor, password: str | None) -> str:
    """Step-up before a break-glass: ``"password"`` when ``password`` is the actor's own (noted,
    for the window), ``"recent"`` when they typed it within ``MEDICAL_BREAK_GLASS_REAUTH_MINUTES``;
    otherwise 403 with a message on ``password`` (429 from the login lockout after repeated
    wrong ones)."""
    now = utcnow()
    if password:
        if not verify_password(actor, password):
            raise APIError(
                403,
                _("Wrong password: the glass stays closed."),
                errors={"password": [_("This is not your password.")]},
            )
        updated = Reauth.update(confirmed_at=now).where(Reauth.user_id == actor.id).execute()
        if not updated:
            Reauth.insert(user_id=actor.id, confirmed_at=now).on_conflict_ignore().execute()
        return "password"
    if recently_confirmed(actor, now):
        return "recent"
    raise APIError(
        403,
        _("Type your password again to break the glass."),
        errors={"password": [_("Your password is required.")]},
    )


def _require_departments(customer_id: int, actor, only: int | None) -> list[int]:
    departments = _departments(customer_id, actor, only)
    if not departments:
        raise APIError(
            409,
            _("This patient has no records outside your department to open."),
            errors={"customer_id": [_("Nothing to break the glass for.")]},
        )
    return departments


def open_grants(
    actor, customer_id: int, reason_code: str, reason: str, department_id=None, password=None
) -> list[BreakGlass]:
    """Open break-glass grants for ``actor`` on the patient's records outside their department
    (or those of ``department_id``), after the step-up (:func:`reauthenticate`); see the module.
    403 for someone who reads no medical records at all or without the password, 404 for no
    such patient, 409 when there is nothing to open."""
    require(actor, BREAK_GLASS, "create")
    if not can(actor, RECORDS, "read"):
        raise APIError(403, _("Only clinicians who read medical records may break the glass."))
    if not Customer.select().where(Customer.id == customer_id).exists():
        raise APIError(404, _("No such patient."))
    hours = int(current_app.config.get("MEDICAL_BREAK_GLASS_HOURS") or 4)
    reason = reason.strip()
    if len(reason) < 10:
        raise APIError(422, _("Say why, in a sentence."), errors={"reason": [_("At least 10 characters.")]})
    _require_departments(customer_id, actor, department_id)  # before asking for the password
    # outside the grant's transaction: a wrong password's failed-login entry must stay
    how = reauthenticate(actor, password)
    grants = []
    with write_transaction():
        departments = _require_departments(customer_id, actor, department_id)
        now = utcnow()
        for dept in departments:
            grant = BreakGlass.create(
                owner_id=actor.id,
                department_id=dept,
                customer=customer_id,
                reason_code=reason_code,
                reason=reason,
                started_at=now,
                expires_at=now + dt.timedelta(hours=hours),
                created_at=now,
                updated_at=now,
            )
            record_written("create", BREAK_GLASS, grant, actor, None, record_dict(grant), {"event": False})
            record_event(
                actor,
                "break_glass",
                BREAK_GLASS,
                grant.id,
                extra={
                    **audit_event(actor, grant, ("110127", "Emergency Override Started")),
                    "reauthentication": how,
                },
                record=grant,
            )
            emit(
                "medical.break_glass.opened",
                {
                    "id": grant.id,
                    "owner_id": grant.owner_id,
                    "department_id": dept,
                    "customer_id": customer_id,
                    "reason_code": reason_code,
                    "expires_at": grant.expires_at,
                    "notify": heads_of(dept),
                },
                actor,
                resource=BREAK_GLASS,
                record_id=grant.id,
                customer_id=customer_id,
            )
            grants.append(grant)
    return grants


def opened_records(grant: BreakGlass, actor):
    """The records ``grant`` opens to ``actor``: its patient's records of its department, while
    it is open and only for the clinician who broke the glass (403 for anyone else, 410 once it
    expired). The isolation filter is not asked: the grant is the permission."""
    if grant.owner_id != getattr(actor, "id", None):
        raise APIError(403, _("Only the clinician who broke the glass reads through it."))
    if not is_active(grant):
        raise APIError(410, _("This break-glass has expired: break the glass again if you still need to."))
    return (
        MedicalRecord.select()
        .where(
            MedicalRecord.customer == grant.customer_id, MedicalRecord.department_id == grant.department_id
        )
        .order_by(MedicalRecord.visit_at.desc())
    )


def is_active(grant: BreakGlass, now=None) -> bool:
    """True while the grant opens the records."""
    return grant.expires_at > (now or utcnow())


def grant_dict(grant: BreakGlass, now=None) -> dict:
    """The JSON image of a grant (the review queue's rows)."""
    return {**record_dict(grant), "customer_id": grant.customer_id, "active": is_active(grant, now)}


def review(grant: BreakGlass, actor, decision: str, note: str) -> BreakGlass:
    """Mark ``grant`` reviewed by ``actor`` (``medical.break_glass:review`` on it; nobody reviews
    their own); 409 when it was reviewed already."""
    with write_transaction():
        require(actor, BREAK_GLASS, "review", grant)
        if grant.reviewed_at is not None:
            raise APIError(409, _("This break-glass was reviewed already."))
        before = record_dict(grant)
        grant.reviewed_at, grant.reviewed_by_id = utcnow(), actor.id
        grant.decision, grant.review_note = decision, note
        grant.save()
        record_written("update", BREAK_GLASS, grant, actor, before, record_dict(grant))
    return grant


def permission_check(actor, action: str, resource: str, record):
    """``crm_permission_check``: nobody reviews their own break-glass."""
    if resource == BREAK_GLASS and action == "review" and isinstance(record, BreakGlass):
        return False if record.owner_id == getattr(actor, "id", None) else None
    return None


def stop_expired(ctx) -> dict:
    """The ``medical:break_glass_stop`` job: audit "Emergency Override Stopped" for every grant
    that expired since the last run."""
    stopped = 0
    due = BreakGlass.select().where(BreakGlass.expires_at <= ctx.now, BreakGlass.stopped_at.is_null())
    for grant in due.order_by(BreakGlass.id).limit(1000):
        with database.atomic():
            record_event(
                ctx.actor,
                "break_glass_stop",
                BREAK_GLASS,
                grant.id,
                extra=audit_event(ctx.actor, grant, ("110138", "Emergency Override Stopped")),
                record=grant,
            )
            BreakGlass.update(stopped_at=ctx.now).where(BreakGlass.id == grant.id).execute()
            stopped += 1
    return {"stopped": stopped}
