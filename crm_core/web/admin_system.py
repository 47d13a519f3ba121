"""Administration of the running system: webhook subscriptions with their delivery log, the
scheduled jobs and their runs, the installed plugins, and the audit log with its chain
verification.
"""

from __future__ import annotations

from flask import abort, current_app, g, render_template, request

from .. import permissions
from ..api.audit import entry_dict, visible_entries
from ..audit import seal, verify
from ..audit.models import AuditEntry
from ..jobs.models import JobRun
from ..jobs.registry import collect_jobs
from ..webhooks.models import WebhookAttempt, WebhookDelivery, WebhookSubscription
from .admin import need
from .blueprint import bp
from .session import login_required


@bp.route("/admin/webhooks")
@login_required
def admin_webhooks():
    """Webhook subscriptions and the delivery log (with attempts) of the chosen one."""
    actor = g.actor
    subs = list(
        permissions.scoped(
            WebhookSubscription.select(), actor, "webhooks", "read", model=WebhookSubscription
        ).order_by(WebhookSubscription.id)
    )
    chosen = request.args.get("id", type=int)
    deliveries, attempts = [], {}
    if chosen is not None:
        if chosen not in {s.id for s in subs}:
            abort(404)
        deliveries = list(
            WebhookDelivery.select()
            .where(WebhookDelivery.subscription == chosen)
            .order_by(WebhookDelivery.id.desc())
            .limit(100)
        )
        if deliveries:
            for attempt in (
                WebhookAttempt.select()
                .where(WebhookAttempt.delivery.in_([d.id for d in deliveries]))
                .order_by(WebhookAttempt.number)
            ):
                attempts.setdefault(attempt.delivery_id, []).append(attempt)
    return render_template(
        "crm/admin/webhooks.html",
        subs=subs,
        chosen=chosen,
        deliveries=deliveries,
        attempts=attempts,
        can_create=permissions.can(actor, "webhooks", "create"),
    )


@bp.route("/admin/jobs")
@login_required
def admin_jobs():
    """Scheduled jobs the plugins declare and their latest runs (admin only, as in the API)."""
    need("admin")
    jobs = collect_jobs(current_app.extensions["crm"].plugins)
    runs = list(JobRun.select().order_by(JobRun.id.desc()).limit(100))
    return render_template("crm/admin/jobs.html", jobs=[j.as_dict() for j in jobs.values()], runs=runs)


@bp.route("/admin/plugins")
@login_required
def admin_plugins():
    """Installed plugins: version, status, hooks, and why a plugin failed to load."""
    need("admin")
    return render_template("crm/admin/plugins.html", plugins=current_app.extensions["crm"].plugins.listing())


@bp.route("/admin/audit", methods=["GET", "POST"])
@login_required
def admin_audit():
    """The audit entries the user may see (hidden fields masked in before/after); a POST (admins)
    seals pending entries and verifies the hash chain, as ``crm audit verify`` does."""
    actor = g.actor
    permissions.require(actor, "audit", "read")
    query = visible_entries(actor)
    resource = request.args.get("resource", "").strip()
    if resource:
        query = query.where(AuditEntry.resource == resource)
    page = max(1, request.args.get("page", 1, type=int))
    rows = list(query.order_by(AuditEntry.id.desc()).paginate(page, 50))
    verification = None
    if request.method == "POST":
        need("admin")

        seal()
        verification = verify()
    return render_template(
        "crm/admin/audit.html",
        entries=[entry_dict(actor, r) for r in rows],
        resource=resource,
        page=page,
        verification=verification,
        can_verify=actor.is_admin,
    )
