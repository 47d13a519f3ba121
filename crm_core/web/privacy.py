"""The workbench page of privacy requests: the open ones first by due date (overdue marked), with
filters, and for handlers the buttons to process or reject and the export downloads. The same
service functions as the API (``crm_core.privacy.requests``): same permissions, same audit."""

from __future__ import annotations

import json

from flask import Response, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _

from .. import permissions
from ..db import utcnow
from ..entities.models import Customer
from ..errors import APIError
from ..privacy.models import KINDS, OPEN_STATUSES, STATUSES, PrivacyRequest
from ..privacy.render import export_html
from ..privacy.requests import (
    export_document,
    get_request,
    is_overdue,
    process_request,
    reject_request,
    visible_requests,
)
from .blueprint import bp
from .session import login_required

PAGE_LIMIT = 200


def _labels() -> dict[str, str]:
    return {
        "access": _("Access (copy)"),
        "portability": _("Portability"),
        "erasure": _("Erasure"),
        "rectification": _("Rectification"),
        "received": _("Received"),
        "in_progress": _("In progress"),
        "completed": _("Completed"),
        "rejected": _("Rejected"),
        "failed": _("Failed"),
        "email": _("E-mail"),
        "phone": _("Phone"),
        "web_form": _("Web form"),
        "letter": _("Letter"),
        "in_person": _("In person"),
        "api": _("API"),
        "other": _("Other"),
    }


@bp.route("/privacy/requests")
@login_required
def privacy_requests():
    """Privacy requests about customers the user may read (needs privacy.requests:read)."""
    actor = g.actor
    query = visible_requests(actor)
    status, kind = request.args.get("status", ""), request.args.get("kind", "")
    overdue = request.args.get("overdue") == "1"
    if status in STATUSES:
        query = query.where(PrivacyRequest.status == status)
    if kind in KINDS:
        query = query.where(PrivacyRequest.kind == kind)
    now = utcnow()
    if overdue:
        query = query.where(PrivacyRequest.status.in_(OPEN_STATUSES), PrivacyRequest.due_at < now)
    rows = list(query.order_by(PrivacyRequest.due_at, PrivacyRequest.id).limit(PAGE_LIMIT))
    names = {}
    ids = {r.customer_id for r in rows if r.customer_id}
    if ids:
        readable = permissions.view(actor, "customers")
        for c in readable.apply(
            Customer.select(Customer.id, Customer.name).where(Customer.id.in_(ids)), Customer
        ):
            names[c.id] = c.name
    return render_template(
        "crm/privacy_requests.html",
        rows=[{"r": r, "overdue": is_overdue(r, now), "customer": names.get(r.customer_id)} for r in rows],
        labels=_labels(),
        statuses=STATUSES,
        kinds=KINDS,
        status=status,
        kind=kind,
        overdue=overdue,
        can_process=permissions.can(actor, "privacy.requests", "process"),
        can_reject=permissions.can(actor, "privacy.requests", "reject"),
        now=now,
    )


@bp.route("/privacy/requests/<int:request_id>/process", methods=["POST"])
@login_required
def privacy_request_process(request_id: int):
    """Answer a request as the user (export kept for download, or erasure)."""
    actor = g.actor
    try:
        done = process_request(get_request(request_id, actor), actor)
    except APIError as exc:
        if exc.code != 409:  # a refusal (403) is an error page, as everywhere
            raise
        flash(exc.description, "error")
    else:
        if done.status == "failed":
            flash(_("The request failed: %(error)s", error=done.error), "error")
        else:
            flash(_("Request #%(id)s completed.", id=done.id), "success")
    return redirect(url_for("web.privacy_requests"))


@bp.route("/privacy/requests/<int:request_id>/reject", methods=["POST"])
@login_required
def privacy_request_reject(request_id: int):
    """Refuse a request with the reason typed in."""
    actor = g.actor
    reason = (request.form.get("reason") or "").strip()[:2000]
    if not reason:
        flash(_("Give the reason the person will be told."), "error")
        return redirect(url_for("web.privacy_requests"))
    try:
        reject_request(get_request(request_id, actor), actor, reason)
    except APIError as exc:
        if exc.code != 409:  # a refusal (403) is an error page, as everywhere
            raise
        flash(exc.description, "error")
    else:
        flash(_("Request #%(id)s rejected.", id=request_id), "success")
    return redirect(url_for("web.privacy_requests"))


@bp.route("/privacy/requests/<int:request_id>/export.<any(json, html):fmt>")
@login_required
def privacy_request_export(request_id: int, fmt: str):
    """The kept export of a completed access/portability request (audited), as a file."""
    actor = g.actor
    document = export_document(get_request(request_id, actor), actor)
    if fmt == "html":
        body, mimetype = export_html(document), "text/html; charset=utf-8"
    else:
        body, mimetype = json.dumps(document, ensure_ascii=False, indent=2), "application/json; charset=utf-8"
    response = Response(body, mimetype=mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="privacy-export-{request_id}.{fmt}"'
    response.headers["Cache-Control"] = "no-store"
    return response
