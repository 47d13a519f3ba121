"""The dashboard: what a manager looks at first."""

from __future__ import annotations

from flask import render_template

from .blueprint import bp
from .session import login_required


@bp.route("/")
@login_required
def dashboard():
    """Counts, the pipeline by stage, tickets by status and SLA breaches, and plugin panels."""
    return render_template("crm/dashboard.html")
