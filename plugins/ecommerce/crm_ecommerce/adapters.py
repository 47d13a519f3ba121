"""The pull adapters this plugin brings: Shopify, WooCommerce and the generic JSON feed.

Each reads one page of orders changed since a time, over HTTP with ``requests``:

- Shopify: ``GET {api_url}/admin/api/2025-07/orders.json?status=any&updated_at_min=...&limit=250``
  with ``X-Shopify-Access-Token``; the next page is the ``page_info`` of the ``Link: rel="next"``
  header;
- WooCommerce: ``GET {api_url}/wp-json/wc/v3/orders?modified_after=...&dates_are_gmt=true
  &per_page=100&page=N`` with the REST key and secret (basic auth); a short page is the last;
- generic: ``GET {api_url}/orders?updated_since=...&cursor=...`` answering ``{"orders": [canonical
  orders], "next": cursor or null}``, with ``Authorization: Bearer <token>``.
"""

from __future__ import annotations

import re

import requests

from . import platforms

TIMEOUT = 20
NEXT_LINK = re.compile(r'<[^>]*[?&]page_info=([^&>]+)[^>]*>;\s*rel="next"')


def _iso(moment) -> str:
    return moment.replace(microsecond=0).isoformat() + "Z"


def shopify_fetch(shop, credentials, since, cursor):
    """One page of a Shopify shop's orders updated since ``since``."""
    params = {"limit": 250}
    if cursor:
        params["page_info"] = cursor  # Shopify allows only limit beside page_info
    else:
        params.update(status="any", updated_at_min=_iso(since), order="updated_at asc")
    answer = requests.get(
        f"{shop.api_url.rstrip('/')}/admin/api/2025-07/orders.json",
        params=params,
        headers={"X-Shopify-Access-Token": credentials.get("token", "")},
        timeout=TIMEOUT,
    )
    answer.raise_for_status()
    found = NEXT_LINK.search(answer.headers.get("Link", ""))
    return {"orders": answer.json().get("orders") or [], "next": found.group(1) if found else None}


def woocommerce_fetch(shop, credentials, since, cursor):
    """One page of a WooCommerce shop's orders modified since ``since``."""
    page = int(cursor or 1)
    per_page = 100
    answer = requests.get(
        f"{shop.api_url.rstrip('/')}/wp-json/wc/v3/orders",
        params={
            "modified_after": since.replace(microsecond=0).isoformat(),
            "dates_are_gmt": "true",
            "per_page": per_page,
            "page": page,
            "orderby": "modified",
            "order": "asc",
        },
        auth=(credentials.get("key", ""), credentials.get("secret", "")),
        timeout=TIMEOUT,
    )
    answer.raise_for_status()
    orders = answer.json() or []
    return {"orders": orders, "next": str(page + 1) if len(orders) == per_page else None}


def generic_fetch(shop, credentials, since, cursor):
    """One page of the generic feed's orders updated since ``since``."""
    params = {"updated_since": _iso(since)}
    if cursor:
        params["cursor"] = cursor
    headers = {"Authorization": f"Bearer {credentials['token']}"} if credentials.get("token") else {}
    answer = requests.get(
        f"{shop.api_url.rstrip('/')}/orders", params=params, headers=headers, timeout=TIMEOUT
    )
    answer.raise_for_status()
    body = answer.json() or {}
    return {"orders": body.get("orders") or [], "next": body.get("next")}


BUILTIN = [
    {"platform": "shopify", "fetch": shopify_fetch, "read": platforms.shopify},
    {"platform": "woocommerce", "fetch": woocommerce_fetch, "read": platforms.woocommerce},
    {"platform": "generic", "fetch": generic_fetch, "read": platforms.generic},
]
