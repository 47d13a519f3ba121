"""Property tests of the discount computation: never negative, never above what it applies to,
the cap respected, the threshold obeyed."""

from __future__ import annotations

from decimal import Decimal

from crm_ecommerce.discounts import Line, Rule, discount, eligible
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

money = st.decimals(min_value=0, max_value=100000, places=2, allow_nan=False, allow_infinity=False)
lines = st.lists(
    st.builds(
        Line,
        sku=st.sampled_from(["A", "B", "C"]),
        quantity=st.integers(min_value=0, max_value=50),
        unit_price=money,
        discount=money,
        category=st.sampled_from(["", "tea", "ware"]),
    ),
    max_size=8,
)
rules = st.builds(
    Rule,
    kind=st.sampled_from(["amount_off", "percent_off", "threshold", "free_shipping"]),
    value=st.decimals(min_value=-10, max_value=1000, places=2, allow_nan=False, allow_infinity=False),
    cap=st.none() | money,
    threshold=money,
    skus=st.frozensets(st.sampled_from(["A", "B", "C"]), max_size=2),
    categories=st.frozensets(st.sampled_from(["tea", "ware"]), max_size=1),
)


# generating nested lines is slow on a loaded machine; the property, not the generator, is tested
@settings(suppress_health_check=[HealthCheck.too_slow])
@given(rules, lines, money)
def test_never_negative_never_above_what_it_applies_to(rule, order_lines, shipping):
    taken = discount(rule, order_lines, shipping)
    assert taken >= 0
    assert taken == taken.quantize(Decimal("0.01"))
    order_total = sum((line.amount for line in order_lines), Decimal(0)) + shipping
    assert taken <= order_total
    limit = shipping if rule.kind == "free_shipping" else eligible(rule, order_lines)
    assert taken <= limit


@given(rules, lines, money)
def test_the_cap_and_the_threshold(rule, order_lines, shipping):
    taken = discount(rule, order_lines, shipping)
    if rule.kind == "percent_off" and rule.cap is not None:
        assert taken <= rule.cap
    if eligible(rule, order_lines) < rule.threshold:
        assert taken == 0


@given(st.decimals(min_value=0, max_value=100, places=2), lines)
def test_a_percentage_takes_its_share_rounded_down(percent, order_lines):
    rule = Rule(kind="percent_off", value=percent)
    base = eligible(rule, order_lines)
    taken = discount(rule, order_lines)
    assert base * percent / 100 - Decimal("0.01") < taken <= base * percent / 100
