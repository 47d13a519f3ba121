"""The webhook inbox: a verified delivery is stored at once and applied later by a job.

``receive`` is what the request does, and all it does: find the shop by the key in its address,
verify the signature over the raw body (:mod:`crm_ecommerce.signatures`), and insert the
delivery, its body sealed, with ``INSERT ... ON CONFLICT DO NOTHING`` on (shop, dedupe key). A
repeat is answered ``duplicate`` without touching anything. Shopify allows 5 seconds for the
whole answer; this is one indexed read and one insert.

``process`` is the job ``ecommerce:inbox`` (every few seconds in the scheduler; ``crm jobs run
ecommerce:inbox`` by hand): it claims pending deliveries (``FOR UPDATE SKIP LOCKED`` on
PostgreSQL, so two schedulers never take the same one), reads each into the canonical order and
applies it (:func:`crm_ecommerce.orders.apply`), each in its own transaction. An unreadable body
fails for good with the reason; any other error leaves the delivery pending for the next run, up
to ``MAX_ATTEMPTS``.
"""

from __future__ import annotations

import logging

from crm_core.plugin_api import database, is_postgres, open_value, seal_value, utcnow, write_transaction

from . import orders, sealing, shipments, signatures, sync
from .models import Delivery, Shop

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 5
BATCH = 200
ORDER_TOPICS = {
    "shopify": ("orders/",),
    "woocommerce": ("order.created", "order.updated", "order.restored"),
}


TRACKING = "tracking"


def receive(shop_key: str, body: bytes, headers, tracking: bool = False) -> tuple[int, dict]:
    """Verify and store one delivery: ``(status, answer)``. 404 unknown or inactive shop, 401 a
    signature that matches none of the shop's secrets, 400 a body that is not a JSON object,
    200 ``queued`` or ``duplicate``. ``tracking``: a carrier's tracking callback (signed the
    AfterShip way with the same secrets), stored under the topic ``tracking``."""
    shop = Shop.get_or_none(Shop.key == shop_key, Shop.active == True)  # noqa: E712 (SQL, not Python)
    if shop is None:
        return 404, {"status": "unknown shop"}
    scheme = "aftership" if tracking else shop.platform
    if not signatures.verify(scheme, sealing.webhook_secrets(shop), body, headers):
        return 401, {"status": "bad signature"}
    payload = signatures.parse(body)
    if payload is None:
        return 400, {"status": "not a JSON object"}
    key = signatures.dedupe_key(scheme, headers, body, payload)
    now = utcnow()
    with write_transaction():
        query = Delivery.insert(
            shop=shop.id,
            dedupe_key=key,
            topic=TRACKING if tracking else signatures.topic(shop.platform, headers, payload),
            body_token=seal_value(body.decode("utf-8", "replace"), sealing.delivery_context(shop.id, key)),
            received_at=now,
            created_at=now,
            updated_at=now,
        ).on_conflict_ignore()
        # the cursor's row count, not the returned id: SQLite answers the last id even when the
        # conflict inserted nothing
        fresh = database.execute(query).rowcount == 1
    return 200, {"status": "queued" if fresh else "duplicate"}


def _is_order(shop: Shop, topic: str) -> bool:
    prefixes = ORDER_TOPICS.get(shop.platform)
    return prefixes is None or not topic or topic.startswith(prefixes)


def _claim(delivery_id: int) -> Delivery | None:
    query = Delivery.select().where(Delivery.id == delivery_id, Delivery.status == "pending")
    if is_postgres():
        query = query.for_update(skip_locked=True)
    return query.first()


def _finish(delivery: Delivery, status: str, **values) -> None:
    Delivery.update(status=status, processed_at=utcnow(), updated_at=utcnow(), **values).where(
        Delivery.id == delivery.id
    ).execute()


def apply_one(delivery_id: int, actor) -> str | None:
    """Apply one pending delivery; its new status, or None when another worker holds it."""
    try:
        with write_transaction():
            delivery = _claim(delivery_id)
            if delivery is None:
                return None
            shop = Shop.get_by_id(delivery.shop_id)
            if delivery.topic == TRACKING:
                return _apply_tracking(shop, delivery, actor)
            if not _is_order(shop, delivery.topic):
                _finish(delivery, "ignored", body_token=None)
                return "ignored"
            raw = open_value(delivery.body_token, sealing.delivery_context(shop.id, delivery.dedupe_key))
            try:
                incoming = sync.reader(shop.platform)(signatures.parse(raw.encode()) or {})
            except ValueError as exc:
                _finish(delivery, "failed", error=str(exc)[:500])
                return "failed"
            order, outcome = orders.apply(shop, incoming, actor, "webhook")
            status = "stale" if outcome == "stale" else "applied"
            _finish(delivery, status, body_token=None, order_id=order.id if order is not None else None)
            return status
    except Exception as exc:  # noqa: BLE001  any other failure is retried by the next run
        log.warning("ecommerce: delivery %s failed, will retry: %r", delivery_id, exc)
        with write_transaction():
            attempts = Delivery.select(Delivery.attempts).where(Delivery.id == delivery_id).scalar() or 0
            values = {"attempts": attempts + 1, "error": repr(exc)[:500], "updated_at": utcnow()}
            if attempts + 1 >= MAX_ATTEMPTS:
                values.update(status="failed", processed_at=utcnow())  # done with: retention ages it
            Delivery.update(**values).where(
                Delivery.id == delivery_id, Delivery.status == "pending"
            ).execute()
        return "retry"


def _apply_tracking(shop: Shop, delivery: Delivery, actor) -> str:
    raw = open_value(delivery.body_token, sealing.delivery_context(shop.id, delivery.dedupe_key))
    try:
        shipments.apply_tracking(shop, signatures.parse(raw.encode()) or {}, actor)
    except ValueError as exc:
        _finish(delivery, "failed", error=str(exc)[:500])
        return "failed"
    _finish(delivery, "applied", body_token=None)
    return "applied"


def retention_policies() -> list[dict]:
    """Processed deliveries (applied, stale, ignored, failed for good) leave the inbox after
    ``ECOMMERCE_INBOX_RETENTION_DAYS``; a pending one is never purged, however old."""
    return [
        {
            "name": "ecommerce_inbox",
            "model": Delivery,
            "field": Delivery.processed_at,
            "where": (Delivery.status != "pending") & Delivery.processed_at.is_null(False),
            "setting": "ECOMMERCE_INBOX_RETENTION_DAYS",
            "default_days": 30,
        }
    ]


def process(actor, limit: int = BATCH) -> dict:
    """Apply up to ``limit`` pending deliveries, oldest first; counts by outcome."""
    ids = [
        d.id
        for d in Delivery.select(Delivery.id)
        .where(Delivery.status == "pending")
        .order_by(Delivery.id)
        .limit(limit)
    ]
    counts: dict[str, int] = {}
    for delivery_id in ids:
        outcome = apply_one(delivery_id, actor)
        if outcome is not None:
            counts[outcome] = counts.get(outcome, 0) + 1
    return counts
