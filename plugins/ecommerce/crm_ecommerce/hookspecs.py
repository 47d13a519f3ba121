"""The hook this plugin offers to others: ``crm_ecommerce_adapters`` (pull sync of any platform).

A third-party plugin adds a platform by implementing it::

    from crm_core import hookimpl

    @hookimpl
    def crm_ecommerce_adapters():
        return [{"platform": "youzan", "fetch": fetch_orders, "read": read_order}]

- ``fetch(shop, credentials, since, cursor)`` returns ``{"orders": [payload, ...], "next": cursor
  or None}``: the orders the shop changed at or after ``since`` (naive UTC), one page per call,
  ``cursor`` None for the first page. ``shop`` is the ``Shop`` row (``api_url``, ``domain``),
  ``credentials`` the dict sealed on it. Raise to stop this shop's sync (logged; the watermark
  stays where it was).
- ``read(payload)`` (optional for ``shopify``, ``woocommerce`` and ``generic``, which this plugin
  reads itself) returns the canonical order of :mod:`crm_ecommerce.platforms`.

The plugin module's ``hookspecs`` attribute (this module) makes the core add the spec before
any plugin registers, so arguments are checked whatever the install order. Implementations are
called in the usual pluggy order; a later adapter for the same platform wins.
"""

from __future__ import annotations

from crm_core import hookspec


@hookspec
def crm_ecommerce_adapters() -> list[dict]:
    """Return pull adapters: ``[{"platform", "fetch", "read"?}]`` (see the module docstring)."""
