"""Tracked privacy requests: receive, process (export or erase), reject; every change audited.

A request moves ``received`` -> ``in_progress`` -> ``completed`` | ``rejected`` | ``failed`` (a
failed one may be processed again). Its ``due_at`` is set on receipt: one calendar month after
``requested_at`` by default (GDPR Art. 12(3): "within one month of receipt", extendable by two
further months for complex requests, the person being told; PIPL Art. 50 asks for a mechanism
and Art. 45 for a prompt answer), or ``CORE_PRIVACY_DUE_DAYS`` days when that is set.

Processing runs as the handler and needs ``privacy.requests:process`` plus, on the customer,
``customers:export`` (access, portability) or ``customers:delete`` (erasure):

- ``access`` / ``portability``: ``export_customer`` builds the document (GDPR Art. 15 / 20,
  PIPL Art. 45) and it is kept on the request for ``CORE_PRIVACY_EXPORT_HOURS`` (default 168: a
  week to hand it over), then cleared by the job ``core.privacy:exports`` (an erasure of the
  customer clears it at once). After that the request says the export expired (410); a new
  request makes a new one. Keeping it that short is Art. 5(1)(e) / PIPL Art. 19.
- ``erasure``: ``erase_customer`` in one transaction with the request's completion; if anything
  fails (a plugin's ``crm_erase_customer`` raising), nothing is erased and the request is
  ``failed`` with the error.
- ``rectification``: the handler corrects the data through the normal API; processing records
  that it was done.

Rejecting needs ``privacy.requests:reject`` and a reason (PIPL Art. 50: refusals give reasons).
Every state change is an audit entry (resource ``privacy.requests``; action = the new status).
"""

from __future__ import annotations

import calendar
import datetime as dt
import json

from flask import current_app
from flask_babel import gettext as _

from .. import permissions
from ..audit import record_event
from ..db import database, utcnow
from ..entities.models import Customer
from ..errors import APIError
from .models import (
    ACCESS,
    COMPLETED,
    ERASURE,
    FAILED,
    IN_PROGRESS,
    OPEN_STATUSES,
    PORTABILITY,
    RECEIVED,
    REJECTED,
    PrivacyRequest,
)

RESOURCE = "privacy.requests"
PROCESSABLE = (RECEIVED, IN_PROGRESS, FAILED)
EXPORT_KINDS = (ACCESS, PORTABILITY)


def add_month(moment: dt.datetime) -> dt.datetime:
    """The same day and time one calendar month later (the last day when the month is shorter)."""
    year, month = (moment.year + 1, 1) if moment.month == 12 else (moment.year, moment.month + 1)
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


def due_date(requested_at: dt.datetime) -> dt.datetime:
    """When a request received at ``requested_at`` must be answered (see the module)."""
    days = int(current_app.config.get("CORE_PRIVACY_DUE_DAYS") or 0)
    return requested_at + dt.timedelta(days=days) if days > 0 else add_month(requested_at)


def is_overdue(request: PrivacyRequest, now: dt.datetime | None = None) -> bool:
    """Still open after its due time."""
    return request.status in OPEN_STATUSES and request.due_at < (now or utcnow())


def _audit(actor, request: PrivacyRequest, previous: str | None, action: str | None = None, **extra) -> None:
    details = {
        "kind": request.kind,
        "customer_id": request.customer_id,
        "status": request.status,
        "from": previous,
        **extra,
    }
    customer = Customer.get_or_none(Customer.id == request.customer_id) if request.customer_id else None
    record_event(actor, action or request.status, RESOURCE, request.id, details, record=customer)


def visible_requests(actor):
    """The requests ``actor`` may see: needs ``privacy.requests:read``, and only requests about
    customers the actor may read (a manager sees their branch's)."""
    permissions.require(actor, RESOURCE, "read")
    readable = PrivacyRequest.customer.in_(
        permissions.scoped(Customer.select(Customer.id), actor, "customers", "read")
    )
    if permissions.effective_scope(actor, "customers", "read") == "all":
        readable = readable | PrivacyRequest.customer.is_null()  # their customer was deleted
    return PrivacyRequest.select().where(readable)


def get_request(request_id: int, actor) -> PrivacyRequest:
    """One visible request, or 404."""
    found = None
    if 0 < request_id < 2**31:
        found = visible_requests(actor).where(PrivacyRequest.id == request_id).first()
    if found is None:
        raise APIError(404, _("No such privacy request."))
    return found


def create_request(
    actor,
    customer: Customer,
    kind: str,
    channel: str = "other",
    notes: str = "",
    requested_at: dt.datetime | None = None,
) -> PrivacyRequest:
    """Log a request received about ``customer`` (``privacy.requests:create``; the customer must
    be readable by ``actor``); audited as ``received``."""
    permissions.require(actor, RESOURCE, "create")
    requested_at = requested_at or utcnow()
    with database.atomic():
        request = PrivacyRequest.create(
            kind=kind,
            customer=customer,
            status=RECEIVED,
            requested_at=requested_at,
            due_at=due_date(requested_at),
            channel=channel,
            notes=notes or "",
            requested_by_id=getattr(actor, "id", None),
        )
        _audit(actor, request, None, due_at=request.due_at.isoformat())
    return request


def _move(request: PrivacyRequest, actor, status: str, **fields) -> PrivacyRequest:
    previous = request.status
    for name, value in {"status": status, **fields}.items():
        setattr(request, name, value)
    request.save()
    _audit(actor, request, previous)
    return request


def _customer_for(request: PrivacyRequest, actor) -> Customer:
    action = "delete" if request.kind == ERASURE else "export"
    customer = Customer.get_or_none(Customer.id == request.customer_id) if request.customer_id else None
    if customer is None:
        raise APIError(409, _("The customer of this request no longer exists."))
    permissions.require(actor, "customers", action, customer)
    return customer


def process_request(request: PrivacyRequest, actor) -> PrivacyRequest:
    """Answer ``request`` as ``actor`` (see the module); returns it ``completed`` or ``failed``."""
    # why here: the export and the erasure live in the package's __init__, which imports this module
    from . import erase_customer, export_customer

    permissions.require(actor, RESOURCE, "process")
    if request.status not in PROCESSABLE:
        raise APIError(409, _("This request is already %(status)s.", status=request.status))
    customer = _customer_for(request, actor)
    with database.atomic():
        _move(request, actor, IN_PROGRESS, handled_by_id=actor.id, started_at=utcnow(), error="")
    try:
        with database.atomic():
            now = utcnow()
            extra: dict = {}
            if request.kind in EXPORT_KINDS:
                document = export_customer(customer, actor)
                hours = int(current_app.config.get("CORE_PRIVACY_EXPORT_HOURS") or 168)
                extra = {
                    "result": json.dumps(document, ensure_ascii=False, default=str),
                    "result_expires_at": now + dt.timedelta(hours=hours),
                }
            elif request.kind == ERASURE:
                counts = erase_customer(customer, actor)
                request = PrivacyRequest.get_by_id(request.id)  # the erasure scrubbed its notes
                extra = {"result": json.dumps({"erased": counts})}
            _move(request, actor, COMPLETED, completed_at=now, **extra)
    except Exception as exc:  # a plugin, store or check refused: nothing was done; say so on the request
        current_app.logger.exception("privacy request %s failed", request.id)
        request = PrivacyRequest.get_by_id(request.id)
        with database.atomic():
            _move(request, actor, FAILED, error=f"{type(exc).__name__}: {exc}"[:2000])
    return request


def reject_request(request: PrivacyRequest, actor, reason: str) -> PrivacyRequest:
    """Refuse ``request`` with ``reason`` (``privacy.requests:reject``); audited."""
    permissions.require(actor, RESOURCE, "reject")
    if request.status not in PROCESSABLE:
        raise APIError(409, _("This request is already %(status)s.", status=request.status))
    with database.atomic():
        return _move(
            request,
            actor,
            REJECTED,
            rejection_reason=reason,
            handled_by_id=actor.id,
            completed_at=utcnow(),
        )


def extend_request(request: PrivacyRequest, actor, months: int, reason: str) -> PrivacyRequest:
    """Move an open request's due date ``months`` (1 or 2) calendar months later, once, with the
    reason the person is told (GDPR Art. 12(3)); needs ``privacy.requests:process``; audited."""
    permissions.require(actor, RESOURCE, "process")
    if request.status not in OPEN_STATUSES:
        raise APIError(409, _("This request is already %(status)s.", status=request.status))
    if request.extended_at is not None:
        raise APIError(409, _("This request was already extended."))
    due = request.due_at
    for _month in range(months):
        due = add_month(due)
    previous_due = request.due_at
    with database.atomic():
        request.due_at, request.extended_at, request.extension_reason = due, utcnow(), reason
        request.save()
        _audit(
            actor,
            request,
            request.status,
            action="extended",
            extended_from=previous_due.isoformat(),
            due_at=due.isoformat(),
        )
    return request


def export_document(request: PrivacyRequest, actor) -> dict:
    """The export of a completed access/portability request while it is kept (410 after);
    every download is audited.

    The document was made with the permissions of whoever processed the request (fields hidden
    from them are left out, others' are not), so only they may download it, while they may still
    export that customer: anyone else processes a request of their own (403 otherwise)."""
    permissions.require(actor, RESOURCE, "read")
    if request.kind not in EXPORT_KINDS or request.status != COMPLETED:
        raise APIError(404, _("This request has no export."))
    if request.handled_by_id != getattr(actor, "id", None):
        raise APIError(
            403,
            _(
                "Only the person who processed this request may download its export: it shows what they may see."
            ),
        )
    _customer_for(request, actor)
    if not request.result or (request.result_expires_at and request.result_expires_at < utcnow()):
        raise APIError(410, _("The export has expired: record a new request to make a new one."))
    record_event(actor, "download", RESOURCE, request.id, {"customer_id": request.customer_id})
    return json.loads(request.result)


def clear_expired_exports(now: dt.datetime | None = None) -> int:
    """Forget the export documents kept past their time (the job ``core.privacy:exports``)."""
    return (
        PrivacyRequest.update(result=None)
        .where(PrivacyRequest.result.is_null(False), PrivacyRequest.result_expires_at < (now or utcnow()))
        .execute()
    )


def request_dict(request: PrivacyRequest, now: dt.datetime | None = None) -> dict:
    """The JSON image of a request (never its export document: that has its own endpoint)."""
    has_export = (
        request.kind in EXPORT_KINDS
        and request.status == COMPLETED
        and bool(request.result)
        and (request.result_expires_at is None or request.result_expires_at >= (now or utcnow()))
    )
    summary = None
    if request.kind == ERASURE and request.result:
        summary = json.loads(request.result)
    return {
        "id": request.id,
        "kind": request.kind,
        "customer_id": request.customer_id,
        "status": request.status,
        "overdue": is_overdue(request, now),
        "requested_at": request.requested_at,
        "due_at": request.due_at,
        "channel": request.channel,
        "notes": request.notes,
        "requested_by_id": request.requested_by_id,
        "handled_by_id": request.handled_by_id,
        "started_at": request.started_at,
        "completed_at": request.completed_at,
        "rejection_reason": request.rejection_reason,
        "error": request.error,
        "export_available": has_export,
        "export_expires_at": request.result_expires_at if has_export else None,
        "erasure": summary,
        "extended_at": request.extended_at,
        "extension_reason": request.extension_reason,
    }
