"""The web workbench: server-rendered pages (Jinja2 + htmx) over the same services as the API.

For plugin authors writing pages (``crm_web_blueprints``), ``crm_core.plugin_api`` re-exports
``login_required`` (anonymous visitors are sent to ``/login``), ``web_actor()`` (the logged-in
``Actor`` of this request, or None) and ``nav_entries(kind)``; tests of pages use
``crm_core.browser_testing`` (``web_login``, ``csrf_from``, ``post_form``).

Pages extend ``crm/base.html`` (blocks ``title``, ``head``, ``content``, ``scripts``; macros in
``crm/macros.html``). Print times, dates and amounts with the filters of
:mod:`crm_core.web.formatting` (``|crm_datetime``, ``|crm_date``, ``|crm_number``,
``|crm_money(currency)``: the user's time zone and locale) and an English message from code with
``|crm_message`` (see ``crm_core/translations/README.md``). Every form post to a non-API path needs the ``csrf_token`` field (or the
``X-CSRFToken`` header for htmx/fetch calls; ``<body>`` carries it in ``hx-headers``); posts
without it answer 400. Assets are served from ``/static`` (no CDN): Pico CSS, htmx, Chart.js.

``crm_nav`` entries (see :mod:`crm_core.web.nav`):

- ``{"label", "endpoint", "args"?, "permission", "order"?}``: a menu entry (``kind`` ``menu``,
  the default); ``permission`` is ``"resource:action"``, a list (any of them) or None.
- ``{"kind": "dashboard", "label", "template", "permission"}``: a dashboard panel.
- ``{"kind": "customer_panel", "label", "template", "permission"}``: a panel on the customer
  360 page; its template gets ``customer`` (the record), ``data`` (the dumped record with the
  viewer's hidden fields removed) and ``actor``.

A collection registered with ``register_crud`` (``crm_core.api.crud``) (core, plugin or custom object)
gets list / detail / form / import / export pages at ``/records/<resource>/`` with no extra code.
"""

from __future__ import annotations

from .nav import nav_entries
from .session import login_required, web_actor

__all__ = ["login_required", "nav_entries", "web_actor"]
