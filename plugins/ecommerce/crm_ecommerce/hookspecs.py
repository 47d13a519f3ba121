"""The hook this plugin offers to others: ``crm_ecommerce_adapters`` (pull sync of any platform).

A third-party plugin adds a platform by implementing it::

    from crm_core import hookimpl

    @hookimpl(optionalhook=True)  # see below
    def crm_ecommerce_adapters():
        return [{"platform": "youzan", "fetch": fetch_orders, "read": read_order}]

- ``fetch(shop, credentials, since, cursor)`` returns ``{"orders": [payload, ...], "next": cursor
  or None}``: the orders the shop changed at or after ``since`` (naive UTC), one page per call,
  ``cursor`` None for the first page. ``shop`` is the ``Shop`` row (``api_url``, ``domain``),
  ``credentials`` the dict sealed on it. Raise to stop this shop's sync (logged; the watermark
  stays where it was).
- ``read(payload)`` (optional for ``shopify``, ``woocommerce`` and ``generic``, which this plugin
  reads itself) returns the canonical order of :mod:`crm_ecommerce.platforms`.

The core registers only its own hookspecs before it checks that every implementation has one
(pluggy's ``check_pending``), so an implementation must be marked ``optionalhook=True`` until
the core lets a plugin declare hookspecs of its own; this plugin adds the spec below when the
app starts (``crm_startup``), so arguments are still checked. Implementations are called in the
usual pluggy order; a later adapter for the same platform wins.
"""

from __future__ import annotations

import pluggy

hookspec = pluggy.HookspecMarker("crm_core")


@hookspec
def crm_ecommerce_adapters() -> list[dict]:
    """Return pull adapters: ``[{"platform", "fetch", "read"?}]`` (see the module docstring)."""
