"""Menu entries, dashboard panels and customer panels from the ``crm_nav`` hook.

An entry is ``{"label", "endpoint", "permission", "kind", ...}``: ``kind`` is ``menu`` (default),
``dashboard`` or ``customer_panel``; panels also name a ``template``. ``permission`` is
``"resource:action"``, a list of them (any one suffices), or None (everyone logged in); entries the user may not use are left out,
so a menu never links to a page that would answer 403.
"""

from __future__ import annotations

import inspect
import logging

from flask import current_app, g, url_for
from werkzeug.routing import BuildError

from ..permissions import can

log = logging.getLogger(__name__)


def allowed(actor, permission: str | None) -> bool:
    """True when ``actor`` holds ``permission`` (``"resource:action"``) through the permission module."""
    if actor is None:
        return False
    if not permission:
        return True
    if isinstance(permission, list | tuple):  # any of them
        return any(allowed(actor, p) for p in permission)
    resource, _, action = permission.rpartition(":")
    if not resource:
        resource, action = action, "read"
    try:
        return bool(can(actor, resource, action))
    except Exception:  # an unknown resource must not break every page
        log.warning("nav permission %r could not be checked", permission, exc_info=True)
        return False


def all_entries() -> list[dict]:
    """Every entry every plugin returns, in plugin order (core first)."""
    entries = []
    for plugin_name, result in current_app.extensions["crm"].plugins.calls("crm_nav"):
        for entry in result or []:
            entries.append({"kind": "menu", "plugin": plugin_name, **entry})
    return entries


def nav_entries(kind: str = "menu") -> list[dict]:
    """The entries of ``kind`` the current user may use, each with a resolved ``url`` for menus."""
    actor = g.get("actor")
    out = []
    for entry in all_entries():
        if entry.get("kind", "menu") != kind or not allowed(actor, entry.get("permission")):
            continue
        item = dict(entry)
        if kind == "menu":
            try:
                item["url"] = url_for(entry["endpoint"], **entry.get("args", {}))
            except (BuildError, KeyError):
                log.warning("nav entry %r has no route; left out", entry.get("endpoint"))
                continue
        out.append(item)
    return sorted(out, key=lambda e: e.get("order", 100))


def panel_vars(entry: dict, context: dict) -> dict:
    """The plugin's own template variables of a panel: its ``template_vars`` called with the
    arguments it names among ``context`` (a customer panel: ``customer``, ``actor``, ``data``),
    like datasette's ``extra_template_vars``; ``{}`` for a panel without one. Called only for a
    panel that is about to render for a viewer allowed to see it, so a plugin reads its data
    once per view, as that viewer (``actor``) may."""
    func = entry.get("template_vars")
    if func is None:
        return {}
    names = inspect.signature(func).parameters
    takes_all = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in names.values())
    values = func(**{k: v for k, v in context.items() if takes_all or k in names})
    if not isinstance(values, dict):
        raise TypeError(
            f"template_vars of panel {entry.get('template')!r} returned {type(values).__name__}, not a dict"
        )
    return values


def render_panels(kind: str, **context) -> list[dict]:
    """The panels of ``kind`` the user may see, each rendered from its template with
    ``context`` and the panel's own ``template_vars`` (:func:`panel_vars`; the core's names win
    a clash): ``[{"entry", "html"}]``. A panel whose variables or template fail is replaced by
    a short notice (and logged), so one broken plugin never takes the page down."""
    from flask import render_template
    from flask_babel import gettext as _
    from markupsafe import Markup, escape

    out = []
    for entry in nav_entries(kind):
        template = entry.get("template")
        if not template:
            continue
        try:
            extra = panel_vars(entry, context)
            html = Markup(render_template(template, **{**extra, **context, "panel": entry}))
        except Exception:
            log.exception("panel %r of plugin %s failed to render", template, entry.get("plugin"))
            html = (
                Markup('<p class="crm-bad">') + escape(_("This panel could not be shown.")) + Markup("</p>")
            )
        out.append({"entry": entry, "html": html})
    return out
