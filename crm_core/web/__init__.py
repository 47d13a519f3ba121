"""The web workbench: server-rendered pages (Jinja2 + htmx) over the same services as the API.

Public for plugin authors writing pages (``crm_web_blueprints``):

- ``login_required``: view decorator; anonymous visitors are sent to ``/login``.
- ``web_actor()``: the logged-in ``Actor`` of this request (the same object the API uses), or None.
- ``nav_entries(kind)``: the ``crm_nav`` entries of one kind the current user may use.

Pages extend ``crm/base.html``. Every form post needs the ``csrf_token`` field (or the
``X-CSRFToken`` header for htmx/fetch calls); the workbench refuses posts without it.
"""

from __future__ import annotations

from .session import login_required, web_actor

__all__ = ["login_required", "nav_entries", "web_actor"]


def nav_entries(kind: str = "menu") -> list[dict]:
    """The ``crm_nav`` entries of ``kind`` the current user may use (see :mod:`crm_core.web.nav`)."""
    from .nav import nav_entries as _entries

    return _entries(kind)
