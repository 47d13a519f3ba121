"""Pull sync and reconciliation: re-read what each shop changed since its watermark.

Webhooks are not guaranteed (Shopify drops or deletes subscriptions, WooCommerce disables them
after 5 failures and never retries), so the job ``ecommerce:reconcile`` reads, for each active
shop with an ``api_url``, the orders changed since ``synced_until - OVERLAP`` through the shop's
adapter (``crm_ecommerce_adapters``), applies each with the same newer-only rule as webhooks (an
order already current is ``stale``: nothing changes and no event is emitted twice), and moves
the watermark to the newest ``updated_at`` it saw. A shop never synced starts ``FIRST_DAYS``
back. An adapter that fails stops that shop's run; the watermark stays.
"""

from __future__ import annotations

import datetime as dt
import logging

from flask import current_app

from crm_core.plugin_api import utcnow

from . import orders, platforms, sealing
from .adapters import BUILTIN
from .models import Shop

log = logging.getLogger(__name__)

OVERLAP = dt.timedelta(minutes=10)
FIRST_DAYS = 7
MAX_PAGES = 100


def adapters() -> dict[str, dict]:
    """Every platform's adapter: the built-in ones, then the plugins' (a later one wins)."""
    found = {a["platform"]: a for a in BUILTIN}
    hook = getattr(current_app.extensions["crm"].plugins.hook, "crm_ecommerce_adapters", None)
    if hook is not None:
        for items in reversed(hook()):
            for item in items or []:
                found[item["platform"]] = {**found.get(item["platform"], {}), **item}
    return found


def known_platforms() -> set[str]:
    """The platforms a shop may be on: the built-in ones and those adapter plugins add."""
    return set(adapters())


def reader(platform: str):
    """The function reading ``platform``'s order payloads into the canonical order."""
    adapter = adapters().get(platform) or {}
    read = adapter.get("read")
    if read is None:
        return lambda payload: platforms.canonical(platform, payload)

    def checked(payload):
        try:
            return read(payload)
        except (TypeError, AttributeError, KeyError) as exc:
            raise ValueError(f"unreadable order: {exc!r}") from None

    return checked


def reconcile(shop: Shop, actor, now: dt.datetime | None = None) -> dict:
    """Pull ``shop``'s recently changed orders and apply them; counts by outcome."""
    adapter = adapters().get(shop.platform)
    if adapter is None:
        raise ValueError(f"no adapter for platform {shop.platform!r}")
    read = reader(shop.platform)
    since = (
        (shop.synced_until - OVERLAP)
        if shop.synced_until
        else (now or utcnow()) - dt.timedelta(days=FIRST_DAYS)
    )
    credentials = sealing.credentials(shop)
    counts = {"created": 0, "updated": 0, "stale": 0, "unreadable": 0}
    newest = shop.synced_until
    cursor = None
    for _page in range(MAX_PAGES):
        page = adapter["fetch"](shop, credentials, since, cursor)
        for payload in page.get("orders") or []:
            try:
                incoming = read(payload)
            except ValueError as exc:
                log.warning("ecommerce: shop %s sent an unreadable order: %s", shop.id, exc)
                counts["unreadable"] += 1
                continue
            _order, outcome = orders.apply(shop, incoming, actor, "sync")
            counts[outcome] += 1
            newest = max(newest or incoming["updated_at"], incoming["updated_at"])
        cursor = page.get("next")
        if not cursor:
            break
    if newest != shop.synced_until:
        Shop.update(synced_until=newest).where(Shop.id == shop.id).execute()
    return counts


def reconcile_all(actor, now: dt.datetime | None = None) -> dict:
    """Reconcile every active shop that has an ``api_url``; ``{shop id: counts or error}``."""
    results = {}
    for shop in Shop.select().where(Shop.active == True, Shop.api_url != ""):  # noqa: E712 (SQL)
        try:
            results[shop.id] = reconcile(shop, actor, now)
        except Exception as exc:  # noqa: BLE001  one shop's failure must not stop the others
            log.warning("ecommerce: reconciliation of shop %s failed: %r", shop.id, exc)
            results[shop.id] = {"error": str(exc)[:300]}
    return results
