"""Issuing, redeeming (核销) and releasing coupons; every limit held by a conditional UPDATE.

See :mod:`crm_ecommerce.coupon_models` for the counters. A redemption runs in one write
transaction with the order's row locked (two codes on one order queue, so the stacking rule
holds), then raises the code's uses and the customer's usage with UPDATEs whose WHERE carries the
limit: when one changes no row the limit is reached and the whole redemption rolls back (409).
Expiry is compared in UTC at redemption time. A release flips the redemption from ``redeemed``
to ``released`` with a conditional UPDATE, so releasing twice (a cancel, then a refund webhook)
gives back one use, once. Each issue, redemption and release is audited (``record_written``,
resource ``ecommerce.coupons``) and announced (``coupon.issued``, ``coupon.redeemed``,
``coupon.released``). Issuing to many customers at once (a segment) is
:mod:`crm_ecommerce.coupon_batch`, with the same refusals and the same audit entry and event.
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets

from flask_babel import gettext as _

from crm_core.plugin_api import (
    APIError,
    database,
    emit,
    is_postgres,
    record_dict,
    record_written,
    utcnow,
    write_transaction,
)

from .coupon_models import CouponCode, CouponRedemption, CouponTemplate, CouponUsage
from .discounts import Line, Rule, discount, meets_threshold
from .models import RELEASING, Order, OrderLine

log = logging.getLogger(__name__)

RESOURCE = "ecommerce.coupons"
ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read aloud and typed by people
CODE_LENGTH = 10


def normalise(code: str) -> str:
    """A code as stored: trimmed, upper case."""
    return (code or "").strip().upper()


def new_code() -> str:
    """A fresh random code (CSPRNG, unambiguous characters)."""
    return "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))


def rule_of(template: CouponTemplate) -> Rule:
    """The discount rule of a template."""
    return Rule(
        kind=template.kind,
        value=template.value,
        cap=template.cap,
        threshold=template.threshold or 0,
        skus=frozenset(template.skus or ()),
        categories=frozenset(template.categories or ()),
    )


def lines_of(order: Order) -> list[Line]:
    """An order's lines as the discount functions take them."""
    rows = OrderLine.select().where(OrderLine.order == order.id).order_by(OrderLine.id)
    return [Line(r.sku, r.quantity, r.unit_price, r.discount, r.category) for r in rows]


def _audit(action: str, record, actor, before=None) -> None:
    record_written(action, RESOURCE, record, actor, before, record_dict(record), extra={"event": False})


# --- issuing -------------------------------------------------------------------------------------


def expiry(template: CouponTemplate, now: dt.datetime) -> dt.datetime | None:
    """When a code of ``template`` issued at ``now`` expires (None: never)."""
    ends = [t for t in (template.valid_until,) if t is not None]
    if template.valid_days:
        ends.append(now + dt.timedelta(days=template.valid_days))
    return min(ends) if ends else None


def cannot_issue(template: CouponTemplate | None, now: dt.datetime) -> APIError | None:
    """The 409 of a template that issues no more codes (gone, inactive or past ``valid_until``)."""
    if (
        template is None
        or not template.active
        or (template.valid_until is not None and template.valid_until <= now)
    ):
        return APIError(
            409,
            _("This coupon can no longer be issued."),
            errors={"template_id": [_("Inactive or expired.")]},
        )
    return None


def sold_out() -> APIError:
    """The 409 of a template whose total quantity has been issued."""
    return APIError(
        409, _("Every coupon of this template has been issued."), errors={"template_id": [_("Sold out.")]}
    )


def announce_issue(record: CouponCode, template: CouponTemplate, actor) -> None:
    """The audit entry and the ``coupon.issued`` event of one issued code."""
    audit_issue(record, actor)
    emit(**issued_event(record, template, actor))


def issued_event(record: CouponCode, template: CouponTemplate, actor) -> dict:
    """The ``coupon.issued`` event of one issued code, as ``emit``'s arguments (for ``emit_many``)."""
    return {
        "event_type": "coupon.issued",
        "data": {
            "code_id": record.id,
            "code": record.code,
            "template_id": template.id,
            "customer_id": record.customer_id,
            "expires_at": record.expires_at,
            "issued_by": record.issued_by,
            "owner_id": template.owner_id,
            "department_id": template.department_id,
        },
        "actor": actor,
        "resource": RESOURCE,
        "record_id": record.id,
    }


def audit_issue(record: CouponCode, actor) -> None:
    """The audit entry of one issued code (its event apart: :func:`issued_event`)."""
    _audit("issue", record, actor)


def issue(
    template: CouponTemplate, customer_id: int | None, actor, issued_by: str = "api", code: str | None = None
) -> CouponCode:
    """A new code of ``template`` for ``customer_id`` (None: anyone); 409 when the template is
    inactive, over or out of codes (its total quantity is held by a conditional UPDATE)."""
    now = utcnow()
    with write_transaction():
        refusal = cannot_issue(template, now)
        if refusal is not None:
            raise refusal
        quantity = CouponTemplate.total_quantity
        taken = (
            CouponTemplate.update(issued=CouponTemplate.issued + 1)
            .where(CouponTemplate.id == template.id, quantity.is_null() | (CouponTemplate.issued < quantity))
            .execute()
        )
        if taken != 1:
            raise sold_out()
        text = normalise(code) if code else new_code()
        if CouponCode.select().where(CouponCode.code == text).exists():
            raise APIError(409, _("This code is already in use."), errors={"code": [_("Already in use.")]})
        record = CouponCode.create(
            template=template.id,
            code=text,
            customer_id=customer_id,
            max_uses=template.uses_per_code,
            issued_at=now,
            expires_at=expiry(template, now),
            issued_by=issued_by[:100],
        )
        announce_issue(record, template, actor)
    return record


# --- redeeming -----------------------------------------------------------------------------------


def _locked_order(order_id: int) -> Order:
    query = Order.select().where(Order.id == order_id)
    if is_postgres():
        query = query.for_update()
    return query.get()


def _checked(code: CouponCode, template: CouponTemplate, order: Order, now: dt.datetime) -> None:
    """422/409 when the code cannot apply to the order (before any counter moves)."""

    def refuse(status, message, reason):
        raise APIError(status, message, errors={"code": [reason]})

    if not code.active or not template.active:
        refuse(409, _("This coupon is no longer valid."), _("Inactive."))
    if template.valid_from is not None and now < template.valid_from:
        refuse(422, _("This coupon is not valid yet."), _("Not valid yet."))
    ends = [t for t in (template.valid_until, code.expires_at) if t is not None]
    if ends and now >= min(ends):
        refuse(409, _("This coupon has expired."), _("Expired."))
    if code.customer_id is not None and code.customer_id != order.customer_id:
        refuse(422, _("This coupon belongs to another customer."), _("Not this customer's coupon."))
    if order.status in RELEASING:
        refuse(409, _("A cancelled or refunded order cannot take a coupon."), _("Order closed."))
    if template.kind != "percent_off" and template.currency and template.currency != order.currency:
        refuse(422, _("This coupon is in another currency."), _("Wrong currency."))
    others = list(
        CouponRedemption.select(CouponRedemption, CouponTemplate)
        .join(CouponTemplate)
        .where(CouponRedemption.order_id == order.id, CouponRedemption.status == "redeemed")
    )
    if others and (not template.stackable or not all(r.template.stackable for r in others)):
        refuse(409, _("This coupon cannot be combined with the order's other coupon."), _("Not stackable."))


def quote(code_text: str, order: Order) -> dict:
    """What ``code_text`` would take off ``order`` now, changing nothing."""
    code = find(code_text)
    template = code.template
    _checked(code, template, order, utcnow())
    lines = lines_of(order)
    if not meets_threshold(rule_of(template), lines):
        raise APIError(
            422,
            _("The order does not reach the coupon's threshold."),
            errors={"code": [_("Threshold not met.")]},
        )
    return {
        "code": code.code,
        "template_id": template.id,
        "amount": discount(rule_of(template), lines, order.shipping),
    }


def find(code_text: str) -> CouponCode:
    """The code (422 when there is none: the message does not say whether it ever existed)."""
    code = CouponCode.get_or_none(CouponCode.code == normalise(code_text))
    if code is None:
        raise APIError(422, _("Unknown coupon code."), errors={"code": [_("Unknown code.")]})
    return code


def redeem(code_text: str, order_id: int, actor) -> tuple[CouponRedemption, bool]:
    """Redeem ``code_text`` on order ``order_id``; ``(redemption, created)``. Redeeming the same
    code on the same order again answers the first redemption (``created`` False)."""
    with write_transaction():
        order = _locked_order(order_id)
        code = find(code_text)
        existing = CouponRedemption.get_or_none(
            CouponRedemption.code == code.id, CouponRedemption.order_id == order.id
        )
        if existing is not None and existing.status == "redeemed":
            return existing, False
        template = CouponTemplate.get_by_id(code.template_id)
        now = utcnow()
        _checked(code, template, order, now)
        lines = lines_of(order)
        rule = rule_of(template)
        if not meets_threshold(rule, lines):
            raise APIError(
                422,
                _("The order does not reach the coupon's threshold."),
                errors={"code": [_("Threshold not met.")]},
            )
        amount = discount(rule, lines, order.shipping)
        used = (
            CouponCode.update(uses=CouponCode.uses + 1)
            .where(CouponCode.id == code.id, CouponCode.active, CouponCode.uses < CouponCode.max_uses)
            .execute()
        )
        if used != 1:
            raise APIError(
                409, _("This coupon has already been used."), errors={"code": [_("Already used.")]}
            )
        if template.per_customer_limit is not None and order.customer_id is not None:
            CouponUsage.insert(
                template=template.id, customer_id=order.customer_id, used=0, created_at=now, updated_at=now
            ).on_conflict_ignore().execute()
            counted = (
                CouponUsage.update(used=CouponUsage.used + 1, updated_at=now)
                .where(
                    CouponUsage.template == template.id,
                    CouponUsage.customer_id == order.customer_id,
                    CouponUsage.used < template.per_customer_limit,
                )
                .execute()
            )
            if counted != 1:
                raise APIError(
                    409,
                    _("The customer has used this coupon as often as allowed."),
                    errors={"code": [_("Limit reached.")]},
                )
        fields = {
            "template": template.id,
            "customer_id": order.customer_id,
            "amount": amount,
            "status": "redeemed",
            "redeemed_at": now,
            "released_at": None,
            "actor_id": getattr(actor, "id", None),
        }
        if existing is not None:  # redeemed again after a release
            CouponRedemption.update(**fields, updated_at=now).where(
                CouponRedemption.id == existing.id
            ).execute()
            redemption = CouponRedemption.get_by_id(existing.id)
        else:
            redemption = CouponRedemption.create(code=code.id, order_id=order.id, **fields)
        _audit("redeem", redemption, actor)
        _announce("coupon.redeemed", redemption, code, template, actor)
    return redemption, True


def _announce(
    event_type: str, redemption: CouponRedemption, code: CouponCode, template: CouponTemplate, actor
) -> None:
    emit(
        event_type,
        {
            "redemption_id": redemption.id,
            "code_id": code.id,
            "template_id": template.id,
            "order_id": redemption.order_id,
            "customer_id": redemption.customer_id,
            "amount": redemption.amount,
            "owner_id": template.owner_id,
            "department_id": template.department_id,
        },
        actor=actor,
        resource=RESOURCE,
        record_id=redemption.id,
    )


def release(redemption_id: int, actor) -> bool:
    """Give a redemption's use back (its order was cancelled or refunded); False when it was
    already released (a second release changes nothing)."""
    now = utcnow()
    with write_transaction():
        flipped = (
            CouponRedemption.update(status="released", released_at=now, updated_at=now)
            .where(CouponRedemption.id == redemption_id, CouponRedemption.status == "redeemed")
            .execute()
        )
        if flipped != 1:
            return False
        redemption = CouponRedemption.get_by_id(redemption_id)
        code = CouponCode.get_by_id(redemption.code_id)
        template = CouponTemplate.get_by_id(redemption.template_id)
        CouponCode.update(uses=CouponCode.uses - 1).where(
            CouponCode.id == code.id, CouponCode.uses > 0
        ).execute()
        if redemption.customer_id is not None:
            CouponUsage.update(used=CouponUsage.used - 1, updated_at=now).where(
                CouponUsage.template == template.id,
                CouponUsage.customer_id == redemption.customer_id,
                CouponUsage.used > 0,
            ).execute()
        _audit("release", redemption, actor)
        _announce("coupon.released", redemption, code, template, actor)
    return True


def release_order(order_id: int, actor) -> int:
    """Release every coupon redeemed on the order; how many were released now."""
    ids = [
        r.id
        for r in CouponRedemption.select(CouponRedemption.id).where(
            CouponRedemption.order_id == order_id, CouponRedemption.status == "redeemed"
        )
    ]
    return sum(1 for i in ids if release(i, actor))


def redeem_platform_codes(order: Order, codes: list[str], actor) -> None:
    """Record the redemption of the codes a platform applied that are this CRM's coupons (a code
    the CRM does not know is the platform's own; one that no longer applies is logged)."""
    for text in codes:
        if not CouponCode.select().where(CouponCode.code == normalise(text)).exists():
            continue
        try:
            with database.atomic():  # a savepoint: a refused code leaves the order's write intact
                redeem(text, order.id, actor)
        except APIError as exc:
            log.warning(
                "ecommerce: order %s carries coupon %s, not redeemed: %s", order.id, text, exc.message
            )
