"""What a coupon takes off an order: pure functions of the template and the order's lines.

Rules (property-tested in tests/test_ecommerce_discounts.py):

- the discount is never negative and never more than what it applies to: the eligible subtotal
  (the lines whose SKU or category the template names; all lines when it names none) for the
  amount kinds, the shipping for free shipping;
- a percent coupon takes ``value`` % of the eligible subtotal, rounded DOWN to the cent, and never
  more than its ``cap``;
- a threshold coupon (满减) takes ``value`` only when the eligible subtotal reaches ``threshold``;
  any kind may carry a threshold.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_DOWN, Decimal

CENT = Decimal("0.01")
ZERO = Decimal("0.00")


@dataclass(frozen=True)
class Line:
    """One order line as a coupon sees it."""

    sku: str
    quantity: int
    unit_price: Decimal
    discount: Decimal = ZERO
    category: str = ""

    @property
    def amount(self) -> Decimal:
        """What the line costs after its own discount (never below zero)."""
        return max(ZERO, (self.unit_price * self.quantity - self.discount).quantize(CENT))


@dataclass(frozen=True)
class Rule:
    """The parts of a template that decide the discount."""

    kind: str
    value: Decimal
    cap: Decimal | None = None
    threshold: Decimal = ZERO
    skus: frozenset = field(default_factory=frozenset)
    categories: frozenset = field(default_factory=frozenset)


def eligible(rule: Rule, lines: list[Line]) -> Decimal:
    """The subtotal of the lines the rule applies to."""
    if not rule.skus and not rule.categories:
        chosen = lines
    else:
        chosen = [
            line
            for line in lines
            if line.sku in rule.skus or (line.category and line.category in rule.categories)
        ]
    return sum((line.amount for line in chosen), ZERO)


def meets_threshold(rule: Rule, lines: list[Line]) -> bool:
    """Whether the eligible subtotal reaches the rule's threshold."""
    return eligible(rule, lines) >= (rule.threshold or ZERO)


def discount(rule: Rule, lines: list[Line], shipping: Decimal = ZERO) -> Decimal:
    """What ``rule`` takes off an order of ``lines`` and ``shipping`` (0 when it does not apply)."""
    base = eligible(rule, lines)
    if base < (rule.threshold or ZERO):
        return ZERO
    value = max(ZERO, rule.value or ZERO)
    if rule.kind == "free_shipping":
        return max(ZERO, shipping).quantize(CENT)
    if rule.kind == "percent_off":
        taken = (base * min(value, Decimal(100)) / 100).quantize(CENT, rounding=ROUND_DOWN)
        if rule.cap is not None:
            taken = min(taken, max(ZERO, rule.cap))
    else:  # amount_off and threshold take a fixed amount
        taken = value
    return min(taken, base).quantize(CENT)
