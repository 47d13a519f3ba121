"""Platform customers mapped to CRM customers, never duplicating one.

Order of matching (docs: research §2): the shop's identity row for the platform customer id, then
the e-mail (lower-cased, as the core stores it), then the phone in E.164 (read in the shop's
region). A name alone never matches. When the e-mail names one customer and the phone another,
the e-mail's wins and the pair becomes a merge suggestion for a person to review.

Safe under concurrency: the identity row is claimed first (``INSERT ... ON CONFLICT DO NOTHING``
then a row lock), so a second writer for the same platform customer waits for the first and
finds its customer; a customer is created through the core's write path, whose unique e-mail and
phone make a racing twin fail (409, inside a savepoint) and be found instead.
"""

from __future__ import annotations

import logging

from crm_core.plugin_api import (
    APIError,
    Customer,
    create_record,
    database,
    is_postgres,
    normalize_email,
    normalize_phone,
    utcnow,
)

from .models import Identity, MergeSuggestion, Shop

log = logging.getLogger(__name__)


def _normalised(shop: Shop, buyer: dict) -> tuple[str | None, str | None]:
    email = phone = None
    try:
        email = normalize_email(buyer.get("email") or "")
    except ValueError:
        log.info("ecommerce: shop %s sent an unusable e-mail; matching without it", shop.id)
    try:
        phone = normalize_phone(buyer.get("phone") or "", shop.phone_region or None)
    except ValueError:
        log.info("ecommerce: shop %s sent an unusable phone; matching without it", shop.id)
    return email, phone


def _claim(shop: Shop, external_id: str) -> Identity:
    """The identity row of ``external_id``, created empty if new, under its row lock."""
    now = utcnow()
    Identity.insert(
        shop=shop.id, external_id=external_id, created_at=now, updated_at=now
    ).on_conflict_ignore().execute()
    query = Identity.select().where(Identity.shop == shop.id, Identity.external_id == external_id)
    if is_postgres():
        query = query.for_update()
    return query.get()


def suggest_merge(a: int, b: int, reason: str, shop: Shop | None = None) -> None:
    """Record that customers ``a`` and ``b`` may be one person (once per pair)."""
    low, high = sorted((a, b))
    now = utcnow()
    MergeSuggestion.insert(
        customer_a=low,
        customer_b=high,
        reason=reason[:300],
        shop=shop.id if shop is not None else None,
        created_at=now,
        updated_at=now,
    ).on_conflict_ignore().execute()


def _match(shop: Shop, email: str | None, phone: str | None) -> int | None:
    by_email = Customer.select(Customer.id).where(Customer.email == email).scalar() if email else None
    by_phone = Customer.select(Customer.id).where(Customer.phone == phone).scalar() if phone else None
    if by_email and by_phone and by_email != by_phone:
        suggest_merge(
            by_email, by_phone, f"one {shop.platform} customer matches by e-mail and by phone", shop
        )
    return by_email or by_phone


def _create(shop: Shop, buyer: dict, email: str | None, phone: str | None, actor) -> int:
    name = (
        buyer.get("name")
        or email
        or phone
        or f"{shop.name} customer {buyer.get('external_id') or ''}".strip()
    )
    data = {
        "name": name[:200],
        "email": email,
        "phone": phone,
        "source_channel": f"shop:{shop.platform}"[:100],
        "department_id": shop.department_id,
    }
    try:
        with database.atomic():  # a savepoint: a racing twin's 409 leaves the transaction usable
            return create_record("customers", Customer, data, actor).id
    except APIError as exc:
        if exc.code != 409:
            raise
    found = _match(shop, email, phone)
    if found is None:
        raise APIError(409, "The customer conflicts with an existing one that cannot be found.")
    return found


def resolve(shop: Shop, buyer: dict, actor) -> int | None:
    """The CRM customer of an order's ``buyer`` (canonical ``customer`` dict), created when no
    customer matches; None for a guest with neither id, e-mail nor phone."""
    email, phone = _normalised(shop, buyer)
    external_id = buyer.get("external_id")
    identity = _claim(shop, external_id) if external_id else None
    if identity is not None and identity.customer_id:
        return identity.customer_id
    if not (email or phone or identity):
        return None
    customer_id = _match(shop, email, phone) or _create(shop, buyer, email, phone, actor)
    if identity is not None:
        Identity.update(customer_id=customer_id, updated_at=utcnow()).where(
            Identity.id == identity.id
        ).execute()
    return customer_id
